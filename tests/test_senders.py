"""The From picker's verdicts (tui.senders): each number judged by core.preflight for this
customer and this draft, and the best one suggested."""

from __future__ import annotations

from typing import Any

from core.preflight import Attachment
from tui.senders import contact_for, judge_senders
from tui.widgets.composer import ComposeContext, sender_from_wire

ACCOUNT = {"id": 1, "name": "Acme", "sid": "AC" + "1" * 32, "geo_permissions": [],
           "status": "active", "type": "Full", "connected": True}
TOLL_FREE = {"id": 1, "account_id": 1, "e164": "+18885550100", "mms": True,
             "sender_type": "toll_free", "country": "US", "account": ACCOUNT}
US_LONG_CODE = {"id": 2, "account_id": 1, "e164": "+12025550199", "mms": True,
                "sender_type": "long_code", "country": "US", "a2p_registered": False,
                "account": ACCOUNT}
UK_LONG_CODE = {"id": 3, "account_id": 1, "e164": "+447400900456", "mms": False,
                "sender_type": "long_code", "country": "GB", "account": ACCOUNT}
NUMBERS = [TOLL_FREE, US_LONG_CODE, UK_LONG_CODE]
US_CUSTOMER, UK_MOBILE = "+12015550123", "+447400123456"
PHOTO = Attachment("photo.jpg", "image/jpeg", 120_000)


def _on(number: dict[str, Any], phone: str, *, opted_out: bool = False) -> ComposeContext:
    """A reply on a ticket that came in on ``number``."""
    sender, account = sender_from_wire(number, ACCOUNT)
    return ComposeContext(ticket_id=7, number=sender, account=account,
                          contact=contact_for(phone, "Kim", opted_out),
                          ticket_number_id=number["id"])


def _codes(verdicts: list[Any]) -> dict[str, tuple[int | None, ...]]:
    return {v.context.number.e164: tuple(r.code for r in v.refusals) for v in verdicts}


def test_an_sms_only_number_cannot_carry_the_attachment() -> None:
    verdicts = judge_senders(_on(TOLL_FREE, UK_MOBILE), NUMBERS, "see photo", [PHOTO])
    by_number = {v.context.number.e164: v for v in verdicts}
    uk = by_number[UK_LONG_CODE["e164"]]
    assert not uk.can_send
    assert "SMS-only" in uk.label(default_id=1) or "SMS" in uk.refusals[0].reason
    assert by_number[TOLL_FREE["e164"]].can_send
    assert by_number[TOLL_FREE["e164"]].suggested  # the number the customer texted


def test_a_uk_mobile_is_refused_from_a_us_long_code_but_not_from_the_uk_one() -> None:
    verdicts = judge_senders(_on(UK_LONG_CODE, UK_MOBILE), NUMBERS, "hello")
    codes = _codes(verdicts)
    assert codes[US_LONG_CODE["e164"]]  # international long code to a UK mobile
    assert codes[UK_LONG_CODE["e164"]] == ()
    assert [v.context.number.e164 for v in verdicts if v.suggested] == [UK_LONG_CODE["e164"]]


def test_an_unregistered_10dlc_long_code_suggests_the_toll_free_number() -> None:
    verdicts = judge_senders(_on(US_LONG_CODE, US_CUSTOMER), NUMBERS, "hello")
    codes = _codes(verdicts)
    assert 30034 in codes[US_LONG_CODE["e164"]]
    assert [v.context.number.e164 for v in verdicts if v.suggested] == [TOLL_FREE["e164"]]
    refused = next(v for v in verdicts if v.context.number.e164 == US_LONG_CODE["e164"])
    assert "toll-free" in refused.label(default_id=2)


def test_an_opted_out_customer_can_be_reached_from_no_number() -> None:
    verdicts = judge_senders(_on(TOLL_FREE, US_CUSTOMER, opted_out=True), NUMBERS, "hello")
    assert all(21610 in codes for codes in _codes(verdicts).values())
    assert not any(v.suggested for v in verdicts)
    assert "opted out" in verdicts[0].label(default_id=1)


def test_an_empty_draft_is_no_reason_against_a_number() -> None:
    verdicts = judge_senders(_on(TOLL_FREE, US_CUSTOMER), NUMBERS, "")
    assert _codes(verdicts)[TOLL_FREE["e164"]] == ()


def test_a_number_listed_without_its_account_is_left_out() -> None:
    bare = {**UK_LONG_CODE, "account": None}
    verdicts = judge_senders(_on(TOLL_FREE, US_CUSTOMER), [TOLL_FREE, bare], "hi")
    assert [v.number_id for v in verdicts] == [1]


def test_a_new_conversation_with_a_uk_customer_suggests_the_uk_number() -> None:
    """No number was texted yet: a number of the customer's own country comes first."""
    sender, account = sender_from_wire(TOLL_FREE, ACCOUNT)
    fresh = ComposeContext(ticket_id=0, number=sender, account=account,
                           contact=contact_for(UK_MOBILE))
    verdicts = judge_senders(fresh, NUMBERS, "hello")
    assert [v.context.number.e164 for v in verdicts if v.suggested] == [UK_LONG_CODE["e164"]]
