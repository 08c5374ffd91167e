"""The Reply-To token: it routes to its ticket, and nothing else does."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from core.reply_token import MAC_LENGTH, reply_address, ticket_of_reply_address

SECRET = "s3cret-key-from-settings"
DOMAIN = "support.example.com"


def address_of(ticket_id: int) -> str:
    return reply_address(ticket_id, secret=SECRET, local_part="support", domain=DOMAIN)


def ticket_of(address: str, **kwargs) -> int | None:
    kwargs.setdefault("secret", SECRET)
    kwargs.setdefault("domain", DOMAIN)
    return ticket_of_reply_address(address, **kwargs)


def test_the_address_reads_as_designed() -> None:
    address = address_of(123)
    local, _, domain = address.partition("@")
    assert domain == DOMAIN
    assert local.startswith("support+t123.")
    assert len(local.rpartition(".")[2]) == MAC_LENGTH
    assert ticket_of(address) == 123


def test_a_mail_server_that_changes_case_does_not_lose_the_ticket() -> None:
    assert ticket_of(address_of(77).upper()) == 77
    assert ticket_of(address_of(77).swapcase()) == 77


def test_a_display_name_and_angle_brackets_are_allowed() -> None:
    assert ticket_of(f'"Support desk" <{address_of(5)}>') == 5


def test_other_secrets_domains_and_local_parts_are_refused() -> None:
    address = address_of(9)
    assert ticket_of(address, secret="another secret") is None
    assert ticket_of(address, domain="example.com") is None
    assert ticket_of(address.replace(DOMAIN, "evil.example.net")) is None
    assert ticket_of(address, local_part="support") == 9
    assert ticket_of(address, local_part="Support") == 9
    assert ticket_of(address, local_part="help") is None


def test_truncated_forged_and_malformed_addresses_are_refused() -> None:
    address = address_of(42)
    local, _, _ = address.partition("@")
    assert ticket_of(address.replace(local, local[:-1])) is None
    assert ticket_of(address.replace("+t42.", "+t43.")) is None
    assert ticket_of(address.replace("+t42.", "+t042.")) is None
    assert ticket_of(f"support+t42.{'a' * MAC_LENGTH}@{DOMAIN}") is None
    for garbage in ["", "@", "support@" + DOMAIN, "support+t42@" + DOMAIN, "not an address",
                    "support+t.abc@" + DOMAIN, "<>", '"support+t42"@' + DOMAIN]:
        assert ticket_of(garbage) is None


def test_bytes_and_str_secrets_agree() -> None:
    address = address_of(3)
    assert ticket_of(address, secret=SECRET.encode()) == 3


@given(st.integers(min_value=1, max_value=10**17))
def test_any_ticket_id_roundtrips(ticket_id: int) -> None:
    assert ticket_of(address_of(ticket_id)) == ticket_id
    assert ticket_of(address_of(ticket_id), local_part="support") == ticket_id


@settings(max_examples=300)
@given(
    st.integers(min_value=1, max_value=10**17),
    st.data(),
)
def test_any_single_character_change_is_refused(ticket_id: int, data: st.DataObject) -> None:
    address = address_of(ticket_id)
    position = data.draw(st.integers(min_value=0, max_value=len(address) - 1))
    original = address[position]
    replacement = data.draw(
        st.sampled_from(string.ascii_letters + string.digits + "+.@-_ ").filter(
            lambda c: c.lower() != original.lower()
        )
    )
    changed = address[:position] + replacement + address[position + 1 :]
    assert ticket_of(changed, local_part="support") is None
