"""Which ticket an inbound email belongs to.

The order, strongest evidence first:
1. the Reply-To token in a recipient address (`support+t123.<mac>@domain`): it
   cannot be forged, so it wins even when the customer answers from another address;
2. In-Reply-To/References naming a mail the desk stored (the store looks them up);
3. a `[#123]` in the subject, only when the sender is that ticket's contact email
   (anyone can type a ticket number);
4. otherwise a new ticket for the sender.
A token of our domain that fails its check is refused, not trusted: threading
falls through to the other rules and the choice says so, so the relay can log it.
Sans-I/O: the store side answers through `ThreadLookups`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from core.mail_read import InboundMail
from core.reply_token import ticket_of_reply_address

_TAG = re.compile(r"\[#(\d{1,18})\]")
_TOKEN_SHAPE = re.compile(r"\+t\d")


class ThreadLookups(Protocol):
    """What threading asks the store (core/email_writes.py implements it)."""

    def ticket_for_mail_ids(self, ids: Sequence[str]) -> int | None:
        """The ticket of the first of these Message-IDs the desk has stored, if any."""
        ...

    def contact_email_of_ticket(self, ticket_id: int) -> str | None:
        """The email address of the ticket's contact, None if none or no such ticket."""
        ...


@dataclass(frozen=True)
class ThreadChoice:
    ticket_id: int | None  # None: open a new ticket for `contact_email`
    how: Literal["token", "headers", "subject", "new"]
    contact_email: str
    refused_token: str | None = None  # an address of ours with a token that failed its check

    @property
    def token_refused(self) -> bool:
        return self.refused_token is not None


def thread_of(
    mail: InboundMail,
    *,
    reply_domain: str,
    secret: str | bytes,
    lookups: ThreadLookups,
    envelope_recipients: Sequence[str] = (),
) -> ThreadChoice:
    """The ticket `mail` continues, and by which rule.

    `envelope_recipients` are the SMTP RCPT TO addresses when the listener has
    them: they carry the token even when the To header does not (Bcc, lists).
    """
    sender = mail.from_address
    refused: str | None = None
    for address in _recipients(mail, envelope_recipients):
        ticket_id = ticket_of_reply_address(address, secret=secret, domain=reply_domain)
        if ticket_id is not None:
            return ThreadChoice(ticket_id, "token", sender, refused)
        if refused is None and _looks_like_our_token(address, reply_domain):
            refused = address
    if mail.thread_ids:
        ticket_id = lookups.ticket_for_mail_ids(list(mail.thread_ids))
        if ticket_id is not None:
            return ThreadChoice(ticket_id, "headers", sender, refused)
    for tag in dict.fromkeys(int(number) for number in _TAG.findall(mail.subject)):
        contact_email = lookups.contact_email_of_ticket(tag)
        if contact_email and contact_email.strip().casefold() == sender.casefold():
            return ThreadChoice(tag, "subject", sender, refused)
    return ThreadChoice(None, "new", sender, refused)


def _recipients(mail: InboundMail, envelope: Sequence[str]) -> list[str]:
    ordered = [*envelope, *mail.delivered_to, *mail.to_addresses, *mail.cc_addresses]
    return list(dict.fromkeys(address.strip() for address in ordered if address.strip()))


def _looks_like_our_token(address: str, reply_domain: str) -> bool:
    local, at, domain = address.rpartition("@")
    same_domain = domain.lower().rstrip(".") == reply_domain.lower().rstrip(".")
    return bool(at) and same_domain and bool(_TOKEN_SHAPE.search(local.lower()))
