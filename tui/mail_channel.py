"""What the inbox knows of the email channel, and the composer's email rules, without widgets.

Why a module of its own: the composer, the inbox and the thread all ask the same three
questions (can this reply go by email, which channel does a ticket start in, what does
an email's state mean), and the answers must agree. The relay judges every email reply
again (the client is not trusted); these answers only let the agent see the refusal
before sending.

How the inbox learns whether the desk's email is set up: every inbox asks
``get_email_channel`` at start (whether the desk can send email, and the attachment limit;
the mail server's settings are the admins' alone) and hears ``email_settings.updated``
when an admin saves. Before the answer (``enabled is None``) the switch is offered when
the contact has an address, and the relay's refusal, in words, says so if the desk cannot
send mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.contact_rules import InvalidContact, checked_email
from core.models import EMAIL_ONLY_PREFIX

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "NO_EMAIL_KNOWN",
    "ChannelName",
    "EmailChannel",
    "default_channel",
    "email_state_label",
    "last_email_subject",
    "shown_phone",
    "why_no_address",
]

ChannelName = Literal["sms", "email"]

DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """The desk's email, as far as this inbox knows: ``enabled`` None means not known yet."""

    enabled: bool | None = None
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES

    @classmethod
    def from_wire(cls, settings: Mapping[str, Any]) -> EmailChannel:
        """From ``EmailSettings.to_wire()`` (``get_email_settings`` or the event's payload)."""
        limit = settings.get("max_attachment_bytes")
        return cls(enabled=bool(settings.get("enabled")),
                   max_attachment_bytes=limit if isinstance(limit, int) and limit > 0
                   else DEFAULT_MAX_ATTACHMENT_BYTES)

    @property
    def why_not(self) -> str:
        """Why no email can go out from this desk ("" when it can, or may)."""
        if self.enabled is False:
            return ("The desk's email is not set up yet: an admin sets the outgoing mail"
                    " server, the from address and the reply domain in Admin → Email.")
        return ""


NO_EMAIL_KNOWN = EmailChannel()  # before the inbox has heard anything


def why_no_address(email: str | None, who: str) -> str:
    """Why ``who`` cannot be emailed at ``email`` ("" when the address is valid: syntax only,
    the same check the relay makes with email-validator)."""
    if not (email or "").strip():
        return f"{who} has no email address"
    try:
        checked_email(email or "")
    except InvalidContact as error:
        return f"{who} has no valid email address ({error})"
    return ""


def default_channel(entries: Iterable[Mapping[str, Any]]) -> ChannelName:
    """The channel of the customer's last message: the agent answers the way they wrote."""
    channel: ChannelName = "sms"
    for entry in entries:
        if entry.get("direction") == "inbound":
            channel = "email" if entry.get("channel") == "email" else "sms"
    return channel


def last_email_subject(entries: Iterable[Mapping[str, Any]]) -> str:
    """The subject of the thread's newest email, "" when it has none (a reply's subject
    continues the conversation, whoever wrote last)."""
    subject = ""
    for entry in entries:
        if entry.get("channel") == "email" and entry.get("subject"):
            subject = str(entry["subject"])
    return subject


def shown_phone(phone: str | None) -> str:
    """A phone as agents see it: a contact known only by email has a stand-in (``email:…``)
    that is no number and is never shown as one."""
    text = phone or ""
    return "" if text.startswith(EMAIL_ONLY_PREFIX) else text


# An email's delivery states in the words the thread shows (MessageStatus, email meanings).
_EMAIL_STATES: dict[str, tuple[str, str]] = {
    "queued": ("queued", "meta"),
    "sending": ("sending…", "meta"),
    "sent": ("accepted by the mail server", "ok"),
    "failed": ("failed", "error"),
    "undelivered": ("bounced", "error"),
    "received": ("", "meta"),
}


def email_state_label(status: str, detail: str | None) -> tuple[str, str]:
    """(words, style) for an email's state; a refusal or a bounce carries the server's words."""
    label, style = _EMAIL_STATES.get(status, (status, "meta"))
    if status in ("failed", "undelivered") and detail:
        label = f"{label}: {' '.join(detail.split())}"
    return label, style
