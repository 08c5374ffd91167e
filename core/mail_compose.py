"""An agent's email reply as a MIME message, built from what the store knows.

Pure: the caller gives the addresses, the Message-ID it assigned when the reply
was queued and the thread's earlier Message-IDs; this module only decides the
headers and the MIME layout, so the outbox can send the same bytes again after
a crash and tests can read them back with the standard library's parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime


@dataclass(frozen=True)
class MailAttachment:
    """A file a mail carries, either way: as the agent attached it or as the customer sent it."""

    filename: str
    content_type: str
    data: bytes

# RFC 5322 §3.6.4 lets References grow with the thread; mail servers refuse very long
# headers, so keep the first id (the thread's root) and the most recent ones.
MAX_REFERENCES = 20

_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw|vs|ref)\s*(?:\[\d+\])?\s*:\s*)+", re.I)


def _tag(ticket_id: int) -> str:
    return f"[#{ticket_id}]"


def subject_for(ticket_id: int, subject: str | None) -> str:
    """"Re: [#123] Subject": one Re:, one ticket tag, whatever the customer's client did.

    Idempotent, so a subject that went round the thread several times stays the
    same; line breaks are folded into spaces (a header cannot carry them).
    """
    text = " ".join((subject or "").split())
    tag = _tag(ticket_id)
    while True:
        shorter = _REPLY_PREFIX.sub("", text).replace(tag, " ")
        shorter = " ".join(shorter.split())
        if shorter == text:
            break
        text = shorter
    return f"Re: {tag} {text}" if text else f"Re: {tag}"


def mail_id(value: str) -> str | None:
    """A Message-ID in its canonical form, `<left@right>`, or None if it is not one."""
    bare = value.strip().removeprefix("<").removesuffix(">").strip()
    if not bare or "@" not in bare or any(c in bare for c in "<> \t\r\n"):
        return None
    return f"<{bare}>"


def references_for(thread_ids: Sequence[str]) -> list[str]:
    """The thread's ids for References: valid ones, once each, the root and the latest."""
    ids: list[str] = []
    for value in thread_ids:
        canonical = mail_id(value)
        if canonical and canonical not in ids:
            ids.append(canonical)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


_TOKEN = re.compile(r"[a-z0-9!#$&^_.+-]+")


def _content_type(value: str) -> tuple[str, str]:
    main, _, sub = value.strip().lower().partition("/")
    sub = sub.split(";")[0].strip()
    # Containers cannot be attached as opaque bytes; send them as what they are to us.
    if main in ("multipart", "message") or not (_TOKEN.fullmatch(main) and _TOKEN.fullmatch(sub)):
        return "application", "octet-stream"
    return main, sub


def compose_reply(
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    to_name: str = "",
    subject: str,
    body: str,
    message_id: str,
    reply_to: str,
    thread_ids: Sequence[str] = (),
    attachments: Sequence[MailAttachment] = (),
    date: datetime | None = None,
) -> EmailMessage:
    """The reply as a message ready for SMTP.

    `subject` is used as given (pass it through subject_for). `thread_ids` are the
    Message-IDs of the thread so far, oldest first: the last is In-Reply-To.
    No Auto-Submitted header: a human wrote this, and autoresponders should answer it.
    Raises ValueError for an address or Message-ID that is not one.
    """
    own_id = mail_id(message_id)
    if own_id is None:
        raise ValueError(f"not a Message-ID: {message_id!r}")
    message = EmailMessage()
    message["From"] = Address(display_name=" ".join(from_name.split()), addr_spec=from_address)
    message["To"] = Address(display_name=" ".join(to_name.split()), addr_spec=to_address)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = own_id
    references = references_for(thread_ids)
    if references:
        message["In-Reply-To"] = references[-1]
        message["References"] = " ".join(references)
    message["Reply-To"] = Address(addr_spec=reply_to)
    message.set_content(body, subtype="plain", charset="utf-8")
    for attachment in attachments:
        maintype, subtype = _content_type(attachment.content_type)
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
