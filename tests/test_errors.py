"""The Twilio error catalog: complete for an SMS inbox, and actionable."""

from __future__ import annotations

import pytest

from core.errors import CATALOG, NO_RESPONSE, TwilioError, docs_url, explain, is_retryable

REQUIRED_CODES = (
    # named in the brief
    20003, 20404, 20429, 14107, 21211, 21408, 21606, 21608, 21610, 21612, 21614, 21617,
    21620, 21623, 30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009, 30010,
    30019, 30022, 30023, 30032, 30034, 30035, 30036, 30450, 11200,
    # routinely met by an SMS inbox
    21602, 21603, 21604, 21611, 21660, 30024, 30033,
)  # fmt: skip


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_required_code_is_catalogued_with_words_an_agent_can_use(code: int) -> None:
    error = CATALOG[code]
    assert error.code == code
    assert error.title.strip()
    assert error.explanation.strip()
    assert error.action.strip()


def test_every_entry_is_filed_under_its_own_code() -> None:
    assert all(key == error.code for key, error in CATALOG.items())


def test_catalog_cannot_be_changed_by_callers() -> None:
    with pytest.raises(TypeError):
        CATALOG[99999] = TwilioError(99999, "x", "y", "z")  # type: ignore[index]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (30034, ("A2P 10DLC", "toll-free")),
        (21408, ("Messaging > Settings > Geo permissions",)),
        (20003, ("Account SID", "auth token", "Keys & Credentials")),
        (21610, ("STOP", "START")),
        (21608, ("trial", "verified")),
        (21617, ("1,600",)),
        (21623, ("10",)),
        (30032, ("Toll-Free Verification",)),
    ],
)
def test_action_follows_the_troubleshooting_guide(code: int, words: tuple[str, ...]) -> None:
    error = CATALOG[code]
    text = f"{error.explanation} {error.action}"
    for word in words:
        assert word.lower() in text.lower()


def test_known_code_comes_from_the_catalog_not_twilios_message() -> None:
    assert explain(21610, "Attempt to send to unsubscribed recipient") is CATALOG[21610]


def test_unknown_code_falls_back_to_twilios_own_message() -> None:
    error = explain(63999, "Something Twilio said")
    assert error.code == 63999
    assert error.title == "Twilio error 63999"
    assert error.explanation == "Something Twilio said"
    assert "https://www.twilio.com/docs/api/errors/63999" in error.action


@pytest.mark.parametrize("message", [None, "", "   "])
def test_unknown_code_without_a_message_gets_a_generic_sentence(message: str | None) -> None:
    error = explain(63999, message)
    assert error.explanation.strip()
    assert "63999" in error.explanation


def test_failure_without_a_code_is_still_explained() -> None:
    error = explain(None, "connection reset")
    assert error.code == 0
    assert error.explanation == "connection reset"
    assert error.action.strip()


def test_docs_url_points_at_twilios_page() -> None:
    assert docs_url(30034) == "https://www.twilio.com/docs/api/errors/30034"
    assert CATALOG[30034].docs_url == docs_url(30034)


@pytest.mark.parametrize(
    ("http_status", "code", "retry"),
    [
        (429, 20429, True),  # Twilio rate limit
        (429, None, True),
        (400, 20429, True),  # the code alone says "slow down"
        (500, None, True),
        (502, None, True),
        (503, 20503, True),
        (NO_RESPONSE, None, True),  # timeout, DNS, connection refused
        (400, 21610, False),  # opted out: resending would fail again
        (400, 21211, False),
        (400, 21408, False),
        (401, 20003, False),  # bad credentials
        (404, 20404, False),
        (403, None, False),
        (201, None, False),  # nothing failed
    ],
)
def test_is_retryable(http_status: int, code: int | None, retry: bool) -> None:
    assert is_retryable(http_status, code) is retry
