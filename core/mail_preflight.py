"""The email reply's preflight: what stands in the way of answering a ticket by email.

Pure (no store, no network), so the relay judges every email reply with it before
queueing (the client is not trusted) and the inbox can say the same words before the
agent sends. None of the SMS rules apply to email: no segments, no opt-out, no
geo-permissions; only whether mail can go out, to whom, with what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core import contact_rules
from core.email_settings import EmailSettings

MB = 1024 * 1024


class Sized(Protocol):
    @property
    def size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class MailRefusal:
    """One reason the email cannot be sent as it is, in a sentence an agent understands;
    ``field`` names what to fix (a form shows it there)."""

    reason: str
    field: str


@dataclass(frozen=True, slots=True)
class MailPreflight:
    """The verdict on an email reply: every refusal that applies, in a stable order."""

    refusals: tuple[MailRefusal, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def reason(self) -> str:
        """All the refusals in one message."""
        return " ".join(refusal.reason for refusal in self.refusals)


def mail_preflight(*, settings: EmailSettings, contact_email: str, body: str,
                   attachments: Sequence[Sized] = ()) -> MailPreflight:
    """Judge an email reply to a contact whose address is ``contact_email``."""
    refusals: list[MailRefusal] = []
    if not settings.enabled:
        refusals.append(MailRefusal(
            "The desk's email is not set up yet: an admin sets the outgoing mail server,"
            " the from address and the reply domain in the Email settings.", "channel"))
    address_problem = why_not_an_address(contact_email)
    if address_problem:
        refusals.append(MailRefusal(
            f"{address_problem}; add one in the contact view to reply by email.", "channel"))
    if not body.strip():
        refusals.append(MailRefusal("The email is empty: write something to send.", "body"))
    total = sum(item.size for item in attachments)
    if total > settings.max_attachment_bytes:
        refusals.append(MailRefusal(
            f"The attachments come to {in_mb(total)}; an email here can carry at most"
            f" {in_mb(settings.max_attachment_bytes)}. Remove some, or send them in"
            " several emails.", "media"))
    return MailPreflight(tuple(refusals))


def why_not_an_address(email: str) -> str:
    """Why ``email`` is no address mail can go to ("" when it is one): syntax only."""
    if not email.strip():
        return "This contact has no email address"
    try:
        contact_rules.checked_email(email)
    except contact_rules.InvalidContact as error:
        return f"This contact has no valid email address ({error})"
    return ""


def in_mb(size: int) -> str:
    """A size as agents read it: "20 MB", "20.5 MB", "0.1 MB"."""
    megabytes = size / MB
    if megabytes >= 0.1 and megabytes == int(megabytes):
        return f"{int(megabytes)} MB"
    return f"{max(megabytes, 0.1):.1f} MB"
