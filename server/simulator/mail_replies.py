"""What the simulated customers write back by email: replies and bounces, as real
mail programs and mail servers make them.

Pure (no I/O): ``reply_to`` answers a mail the way a mail client's "Reply" does (to the
Reply-To address, ``Re:`` subject, In-Reply-To/References, the customer's words, a
signature, then "On … wrote:" and the agent's mail quoted with ``>``), so the relay's
threading and its quote and signature stripping meet what they meet in real life.
``bounce_for`` is the delivery status notification (RFC 3464) a mail server sends to
the envelope sender when a mailbox does not exist.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid, parseaddr

REPORTING_MTA = "mx.customers.example"
NOT_FOUND = ("550 5.1.1 <{address}>: Recipient address rejected:"
             " User unknown in virtual mailbox table")


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer a customer writes, in turn, to the next mail they get from the desk."""

    body: str
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class MailCustomer:
    """A mailbox the stand-in keeps: who owns it and how they answer.

    ``exists`` False: mail to it bounces ("User unknown"). ``replies`` are used once each,
    in order; after the last one the customer reads the desk's mail and says nothing.
    """

    address: str
    name: str = ""
    replies: tuple[Reply, ...] = ()
    signature: str = ""
    exists: bool = True

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header(message: Message, name: str) -> str:
    """A header as one line of text; "" when absent or unreadable."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def reply_subject(subject: str) -> str:
    """What a mail client puts: "Re: " once, in front of the subject as it was."""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()


def quoted(text: str) -> str:
    """Every line of ``text`` behind "> ", as mail clients quote what they answer."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def reply_to(original: EmailMessage, customer: MailCustomer, reply: Reply, *,
             date: datetime | None = None) -> EmailMessage:
    """The customer's answer to ``original``: sent to its Reply-To (else its From)."""
    when = date or datetime.now(UTC)
    answer = EmailMessage()
    answer["From"] = Address(display_name=customer.name, addr_spec=customer.address)
    answer["To"] = header(original, "Reply-To") or header(original, "From")
    answer["Subject"] = reply_subject(header(original, "Subject"))
    answer["Date"] = format_datetime(when)
    answer["Message-ID"] = make_msgid(domain=customer.domain)
    original_id = header(original, "Message-ID")
    if original_id:
        answer["In-Reply-To"] = original_id
        answer["References"] = " ".join([*header(original, "References").split(), original_id])
    answer["User-Agent"] = "smsdesk simulated mail client"
    wrote = (f"On {header(original, 'Date') or 'an earlier day'}, "
             f"{header(original, 'From') or 'the desk'} wrote:")
    parts = [reply.body.strip()]
    if customer.signature:
        parts.append(f"-- \n{customer.signature}")
    parts.append(f"{wrote}\n{quoted(body_text(original))}")
    answer.set_content("\n\n".join(parts) + "\n")
    for attachment in reply.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        answer.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                              filename=attachment.filename)
    return answer


def first_mail(customer: MailCustomer, to: str, subject: str, body: str, *,
               date: datetime | None = None) -> EmailMessage:
    """A new mail from the customer (no thread yet), as a mail client writes one."""
    mail = EmailMessage()
    mail["From"] = Address(display_name=customer.name, addr_spec=customer.address)
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date or datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=customer.domain)
    mail["User-Agent"] = "smsdesk simulated mail client"
    text = body.strip()
    if customer.signature:
        text += f"\n\n-- \n{customer.signature}"
    mail.set_content(text + "\n")
    return mail


def bounce_for(raw: bytes, *, return_path: str, recipients: Sequence[str],
               date: datetime | None = None) -> EmailMessage:
    """A delivery status notification (RFC 3464, multipart/report) telling ``return_path``
    that ``recipients`` have no mailbox, with the original's headers attached."""
    original = parsed(raw)
    when = format_datetime(date or datetime.now(UTC))
    report = EmailMessage()
    report["From"] = Address(display_name="Mail Delivery System",
                             addr_spec=f"MAILER-DAEMON@{REPORTING_MTA}")
    report["To"] = return_path
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = when
    report["Message-ID"] = make_msgid(domain=REPORTING_MTA)
    report["Auto-Submitted"] = "auto-replied"
    report["MIME-Version"] = "1.0"
    lines = "\n".join(f"<{address}>: host {REPORTING_MTA} said: {NOT_FOUND.format(address=address)}"
                      for address in recipients)
    human = EmailMessage()
    human.set_content(
        f"This is the mail system at host {REPORTING_MTA}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        f"{lines}\n")
    status = Message()
    status.set_type("message/delivery-status")
    blocks = [_fields({"Reporting-MTA": f"dns; {REPORTING_MTA}", "Arrival-Date": when})]
    for address in recipients:
        blocks.append(_fields({
            "Final-Recipient": f"rfc822; {address}",
            "Original-Recipient": f"rfc822; {address}",
            "Action": "failed",
            "Status": "5.1.1",
            "Remote-MTA": f"dns; {REPORTING_MTA}",
            "Diagnostic-Code": f"smtp; {NOT_FOUND.format(address=address)}",
        }))
    status.set_payload(blocks)
    headers = Message()
    headers.set_type("text/rfc822-headers")
    headers.set_payload("".join(f"{name}: {value}\n" for name, value in original.items()))
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    report.set_payload([human, status, headers])
    return report


def _fields(values: dict[str, str]) -> Message:
    block = Message()
    for name, value in values.items():
        block[name] = value
    return block


def address_of(value: str) -> str:
    """The bare address in a header value such as ``"Maya" <maya@example.com>``."""
    return parseaddr(value)[1]
