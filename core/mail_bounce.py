"""Is this inbound mail a bounce of one of our replies, and what did the far end say?

RFC 3464 delivery status notifications (multipart/report; report-type=delivery-status)
are read field by field: Action, Status, Diagnostic-Code, Final-Recipient, and the
original's Message-ID from the returned headers or message (or Original-Envelope-Id).
Servers that send no DSN (qmail's "failure notice", some Exchange and hosted
services) are recognised by a bounce-like sender or subject with the original
Message-ID quoted in the body. Sans-I/O: the caller marks the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from core.mail_compose import mail_id
from core.mail_read import (
    MAX_DEPTH,
    MAX_PARTS,
    InboundMail,
    MailUnreadable,
    content_type_of,
    mail_ids_of,
    parsed_message,
    payload_of,
    raw_header,
    read_mail,
    text_of_part,
)

# How much of a diagnostic is kept: enough for the agent to see the server's words.
MAX_DIAGNOSTIC = 500

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_QUOTED_ID = re.compile(r"(?im)^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)")
_BOUNCE_SENDER = re.compile(r"(?i)^(mailer-daemon|postmaster|mail-daemon|bounces?)@")
_BOUNCE_SUBJECT = re.compile(
    r"(?i)(undeliver|undelivered mail|returned mail|delivery status notification|"
    r"delivery failure|failure notice|mail delivery failed|delivery has failed|"
    r"could not be delivered|nondeliver|non-deliver)"
)
_DELAY_WORDS = re.compile(
    r"(?i)(delayed|has not yet been delivered|will (continue to )?retry|still trying|"
    r"temporary (failure|problem)|delivery (has been )?delayed)"
)


@dataclass(frozen=True)
class Bounce:
    """What a delivery report says about one of our mails.

    `action` "failed" is a bounce (mark the message undelivered); "delayed" is
    not: the far server still tries, so the caller only notes it.
    """

    action: Literal["failed", "delayed"]
    original_message_id: str | None
    recipient: str | None
    status: str | None
    diagnostic: str
    standard: bool  # an RFC 3464 report, not a guess from a human-readable notice

    @property
    def failed(self) -> bool:
        return self.action == "failed"

    @property
    def delayed(self) -> bool:
        return self.action == "delayed"

    @property
    def detail(self) -> str:
        """One line for mail_detail: the status and the far server's words."""
        return " ".join(part for part in (self.status, self.diagnostic) if part) or self.action


def bounce_of(mail: InboundMail | bytes) -> Bounce | None:
    """The bounce `mail` is, or None for ordinary mail and positive reports."""
    raw = mail.raw if isinstance(mail, InboundMail) else bytes(mail)
    try:
        message = parsed_message(raw)
    except Exception:  # a bounce check must never take the listener down
        return None
    parts = _leaves(message)
    status_parts = [p for p in parts if content_type_of(p) == "message/delivery-status"]
    if status_parts:
        # A DSN speaks for itself: a positive one is no bounce, whatever its prose says.
        return _delivery_report(parts, status_parts[0])
    if not isinstance(mail, InboundMail):
        try:
            mail = read_mail(raw)
        except MailUnreadable:
            return None
    return _notice_bounce(mail)


# --- RFC 3464 -------------------------------------------------------------------------


def _leaves(message: Message) -> list[Message]:
    """Every part, depth-first, within the same bounds as reading mail."""
    found: list[Message] = []
    pending: list[tuple[Message, int]] = [(message, 0)]
    while pending and len(found) < MAX_PARTS:
        part, depth = pending.pop()
        found.append(part)
        payload = payload_of(part)
        if depth < MAX_DEPTH and isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            pending.extend((child, depth + 1) for child in reversed(children))
    return found


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """The DSN's field groups (per-message first, then one per recipient)."""
    blocks: list[dict[str, str]] = []
    payload = payload_of(part)
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append({key.lower(): _one_line(raw_header(block, key)) for key in block})
        return blocks
    for chunk in re.split(r"\n\s*\n", text_of_part(part).replace("\r\n", "\n")):
        try:
            fields = HeaderParser().parsestr(chunk.strip() + "\n")
        except Exception:
            continue
        block = {key.lower(): _one_line(raw_header(fields, key)) for key in fields}
        if block:
            blocks.append(block)
    return blocks


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _after_type(value: str) -> str:
    """`rfc822; a@b` → `a@b`, `smtp; 550 ...` → `550 ...` (RFC 3464 typed fields)."""
    _, semicolon, rest = value.partition(";")
    return (rest if semicolon else value).strip()


def _delivery_report(parts: list[Message], status_part: Message) -> Bounce | None:
    blocks = _field_blocks(status_part)
    per_message = blocks[0] if blocks else {}
    recipients = [block for block in blocks[1:] if "action" in block or "status" in block]
    chosen = _worst(recipients)
    if chosen is None:
        return None
    action = _action_of(chosen)
    if action is None:
        return None  # delivered, relayed, expanded: not a bounce
    original = _original_id(parts) or mail_id(per_message.get("original-envelope-id", ""))
    status_match = _STATUS.search(chosen.get("status", ""))
    return Bounce(
        action=action,
        original_message_id=original,
        recipient=_after_type(chosen.get("final-recipient", ""))
        or _after_type(chosen.get("original-recipient", ""))
        or None,
        status=status_match.group() if status_match else None,
        diagnostic=_after_type(chosen.get("diagnostic-code", ""))[:MAX_DIAGNOSTIC],
        standard=True,
    )


def _action_of(block: dict[str, str]) -> Literal["failed", "delayed"] | None:
    action = block.get("action", "").strip().lower()
    status = _STATUS.search(block.get("status", ""))
    if action == "failed" or (not action and status and status.group(1) == "5"):
        return "failed"
    if action == "delayed" or (not action and status and status.group(1) == "4"):
        return "delayed"
    return None


def _worst(blocks: list[dict[str, str]]) -> dict[str, str] | None:
    """The recipient that failed, else one that is delayed, else None."""
    for wanted in ("failed", "delayed"):
        for block in blocks:
            if _action_of(block) == wanted:
                return block
    return None


def _original_id(parts: list[Message]) -> str | None:
    for part in parts:
        kind = content_type_of(part)
        if kind == "message/rfc822":
            payload = payload_of(part)
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found = mail_ids_of(payload[0], "Message-ID")
                if found:
                    return found[0]
        elif kind == "text/rfc822-headers":
            quoted = _QUOTED_ID.search(text_of_part(part))
            if quoted:
                return mail_id(quoted.group(1))
    return None


# --- notices without a DSN ------------------------------------------------------------


def _notice_bounce(mail: InboundMail) -> Bounce | None:
    looks_like_bounce = _BOUNCE_SENDER.match(mail.from_address) or _BOUNCE_SUBJECT.search(
        mail.subject
    )
    if not looks_like_bounce:
        return None
    quoted_texts = [mail.text] + [
        attachment.data.decode("utf-8", "replace")
        for attachment in mail.attachments
        if attachment.content_type in ("message/rfc822", "text/rfc822-headers")
    ]
    original = None
    for text in quoted_texts:
        quoted = _QUOTED_ID.search(text)
        if quoted:
            original = mail_id(quoted.group(1))
            break
    if original is None:
        return None  # a bounce we cannot tie to any message is just mail for a human
    report = mail.text.split("\n\n--- ")[0]
    status = _STATUS.search(report)
    permanent = status.group(1) == "5" if status else not _DELAY_WORDS.search(report)
    recipient = re.search(r"(?m)^\s*<([^<>\s]+@[^<>\s]+)>:?", report)
    return Bounce(
        action="failed" if permanent else "delayed",
        original_message_id=original,
        recipient=recipient.group(1) if recipient else None,
        status=status.group() if status else None,
        diagnostic=_diagnostic_line(report),
        standard=False,
    )


def _diagnostic_line(report: str) -> str:
    """The far server's words: the line with an SMTP reply code, else the report's start."""
    lines = [line.strip() for line in report.split("\n") if line.strip()]
    for line in lines:
        if re.search(r"\b[45]\d\d\b", line) and not line.lower().startswith(("date:", "received:")):
            return line[:MAX_DIAGNOSTIC]
    return " ".join(lines)[:MAX_DIAGNOSTIC]
