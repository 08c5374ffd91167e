"""Threading an inbound email: token, then headers, then subject with the right sender, else new."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.mail_read import read_mail
from core.mail_threading import ThreadChoice, ThreadLookups, thread_of
from core.reply_token import reply_address

SECRET = "relay-secret"
DOMAIN = "support.example.com"


@dataclass
class FakeStore:
    """Stands in for the store: which mail ids belong to which ticket, and contact emails."""

    mail_ids: dict[str, int] = field(default_factory=dict)
    contact_emails: dict[int, str] = field(default_factory=dict)
    asked_ids: list[list[str]] = field(default_factory=list)

    def ticket_for_mail_ids(self, ids: Sequence[str]) -> int | None:
        self.asked_ids.append(list(ids))
        return next((self.mail_ids[i] for i in ids if i in self.mail_ids), None)

    def contact_email_of_ticket(self, ticket_id: int) -> str | None:
        return self.contact_emails.get(ticket_id)


def inbound(*, to: str = f"support@{DOMAIN}", subject: str = "Hello", headers: str = "",
            sender: str = "ann@example.org"):  # fmt: skip
    return read_mail(
        f"From: Ann <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n{headers}\r\nbody\r\n".encode()
    )


def choose(mail, store: FakeStore | None = None, **kwargs) -> ThreadChoice:
    lookups: ThreadLookups = store or FakeStore()
    return thread_of(mail, reply_domain=DOMAIN, secret=SECRET, lookups=lookups, **kwargs)


def token(ticket_id: int) -> str:
    return reply_address(ticket_id, secret=SECRET, local_part="support", domain=DOMAIN)


def test_the_token_wins_even_from_another_sender() -> None:
    store = FakeStore(mail_ids={"<x@y>": 5}, contact_emails={9: "someone@else.example"})
    mail = inbound(to=token(9), subject="Re: [#5] other", headers="In-Reply-To: <x@y>\r\n",
                   sender="colleague@example.org")  # fmt: skip
    choice = choose(mail, store)
    assert choice == ThreadChoice(9, "token", "colleague@example.org")
    assert not choice.token_refused


def test_the_token_is_found_in_cc_delivered_to_or_the_envelope() -> None:
    assert choose(inbound(headers=f"Cc: {token(3)}\r\n")).ticket_id == 3
    assert choose(inbound(headers=f"Delivered-To: {token(4)}\r\n")).ticket_id == 4
    assert choose(inbound(), envelope_recipients=[token(6)]).how == "token"
    assert choose(inbound(to=token(7).upper())).ticket_id == 7


def test_a_forged_token_is_refused_and_threading_falls_through() -> None:
    forged = token(9).replace("+t9.", "+t8.")
    store = FakeStore(mail_ids={"<ours@support.example.com>": 2})
    mail = inbound(to=forged, headers="References: <ours@support.example.com>\r\n")
    choice = choose(mail, store)
    assert choice.ticket_id == 2 and choice.how == "headers"
    assert choice.token_refused and choice.refused_token == forged
    alone = choose(inbound(to=forged))
    assert alone.how == "new" and alone.ticket_id is None and alone.token_refused


def test_a_token_for_another_domain_is_not_ours_to_refuse() -> None:
    other = token(9).replace(DOMAIN, "elsewhere.example")
    choice = choose(inbound(to=other))
    assert choice.how == "new" and not choice.token_refused


def test_headers_thread_by_the_stored_mail_ids_most_direct_first() -> None:
    store = FakeStore(mail_ids={"<root@x>": 11})
    mail = inbound(headers="In-Reply-To: <latest@x>\r\nReferences: <root@x> <mid@x> <latest@x>\r\n")
    assert choose(mail, store) == ThreadChoice(11, "headers", "ann@example.org")
    assert store.asked_ids == [["<latest@x>", "<mid@x>", "<root@x>"]]


def test_a_subject_tag_needs_the_ticket_contacts_own_address() -> None:
    store = FakeStore(contact_emails={42: "Ann@Example.org", 43: "bob@example.org"})
    assert choose(inbound(subject="Re: [#42] Printer"), store) == ThreadChoice(
        42, "subject", "ann@example.org"
    )
    stranger = choose(inbound(subject="Re: [#43] Printer"), store)
    assert stranger.how == "new" and stranger.ticket_id is None
    missing = choose(inbound(subject="Re: [#44] Printer"), store)
    assert missing.how == "new"
    second_tag = choose(inbound(subject="[#43] about [#42]"), store)
    assert second_tag.ticket_id == 42


def test_unknown_headers_and_no_tag_open_a_new_ticket_for_the_sender() -> None:
    store = FakeStore()
    choice = choose(
        inbound(headers="In-Reply-To: <unknown@x>\r\n", sender="New@Example.NET"), store
    )
    assert choice == ThreadChoice(None, "new", "New@example.net")
    assert store.asked_ids == [["<unknown@x>"]]


def test_without_thread_headers_the_store_is_not_asked_for_ids() -> None:
    store = FakeStore()
    choose(inbound(), store)
    assert store.asked_ids == []
