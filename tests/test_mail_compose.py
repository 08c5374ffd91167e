"""An agent's reply as MIME: read back with the standard library, it says what it should."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.mail_compose import (
    MAX_REFERENCES,
    MailAttachment,
    compose_reply,
    mail_id,
    references_for,
    subject_for,
)

REPLY_TO = "support+t123.abcdefghijklmnop@support.example.com"


def reply(**overrides):
    arguments = dict(
        from_address="support@example.com",
        from_name="Zoë at ACME Support",
        to_address="customer@example.org",
        to_name="Jürgen Müller",
        subject=subject_for(123, "Printer jams"),
        body="Hello Jürgen,\n\nplease try the rear tray — it works.\n",
        message_id="<smsdesk.t123.m456.x1y2@support.example.com>",
        reply_to=REPLY_TO,
        thread_ids=["<first@mail.example.org>", "<second@mail.example.org>"],
        date=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )
    arguments.update(overrides)
    message = compose_reply(**arguments)
    return BytesParser(policy=policy.default).parsebytes(message.as_bytes())


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Printer jams", "Re: [#123] Printer jams"),
        ("Re: Printer jams", "Re: [#123] Printer jams"),
        ("RE: Re: Aw: Printer jams", "Re: [#123] Printer jams"),
        ("Re: [#123] Printer jams", "Re: [#123] Printer jams"),
        ("Re: [#123] Re: [#123] Printer jams", "Re: [#123] Printer jams"),
        ("[#123] Printer jams", "Re: [#123] Printer jams"),
        ("Re[2]: Printer jams", "Re: [#123] Printer jams"),
        ("Printer\r\n jams\n", "Re: [#123] Printer jams"),
        ("", "Re: [#123]"),
        (None, "Re: [#123]"),
        ("About [#99] and more", "Re: [#123] About [#99] and more"),
        ("Regarding the invoice", "Re: [#123] Regarding the invoice"),
    ],
)
def test_subject_for(subject, expected) -> None:
    assert subject_for(123, subject) == expected


@given(st.integers(min_value=1, max_value=10**9), st.text(max_size=80))
def test_subject_for_is_idempotent_and_one_line(ticket_id: int, subject: str) -> None:
    once = subject_for(ticket_id, subject)
    assert subject_for(ticket_id, once) == once
    assert once.startswith(f"Re: [#{ticket_id}]")
    assert once.count(f"[#{ticket_id}]") == 1
    assert "\n" not in once and "\r" not in once


def test_the_headers_say_who_what_and_which_thread() -> None:
    message = reply()
    assert message["From"].addresses[0].display_name == "Zoë at ACME Support"
    assert message["From"].addresses[0].addr_spec == "support@example.com"
    assert message["To"].addresses[0].addr_spec == "customer@example.org"
    assert message["To"].addresses[0].display_name == "Jürgen Müller"
    assert message["Subject"] == "Re: [#123] Printer jams"
    assert message["Message-ID"] == "<smsdesk.t123.m456.x1y2@support.example.com>"
    assert message["In-Reply-To"] == "<second@mail.example.org>"
    assert message["References"] == "<first@mail.example.org> <second@mail.example.org>"
    assert message["Reply-To"].addresses[0].addr_spec == REPLY_TO
    assert parsedate_to_datetime(message["Date"]) == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert message["Auto-Submitted"] is None


def test_the_body_is_plain_utf8_text() -> None:
    message = reply()
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == "Hello Jürgen,\n\nplease try the rear tray — it works.\n"


def test_a_first_reply_has_no_thread_headers() -> None:
    message = reply(thread_ids=[])
    assert message["In-Reply-To"] is None
    assert message["References"] is None


def test_attachments_come_back_byte_for_byte() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    message = reply(
        attachments=[
            MailAttachment("photo.png", "image/png", png),
            MailAttachment("Straße plan.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),
            MailAttachment("notes.txt", "text/plain", "Grüße\n".encode()),
            MailAttachment("weird", "not a type", b"\x00\x01"),
        ]
    )
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_body(("plain",)).get_content().startswith("Hello Jürgen")
    parts = list(message.iter_attachments())
    assert [(p.get_filename(), p.get_content_type()) for p in parts] == [
        ("photo.png", "image/png"),
        ("Straße plan.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("weird", "application/octet-stream"),
    ]
    assert parts[0].get_payload(decode=True) == png
    assert parts[1].get_payload(decode=True) == b"%PDF-1.4 \x00\xff"
    assert parts[2].get_payload(decode=True) == "Grüße\n".encode()


def test_references_are_valid_unique_and_capped_keeping_the_root() -> None:
    ids = [f"<m{i}@example.org>" for i in range(60)]
    kept = references_for([*ids, "<m3@example.org>", "no brackets@example.org", "junk", ""])
    assert kept == [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    message = reply(thread_ids=ids)
    assert message["References"].split() == references_for(ids)
    assert message["In-Reply-To"] == "<m59@example.org>"


def test_mail_id_canonical_form() -> None:
    assert mail_id(" <a.b@c> ") == "<a.b@c>"
    assert mail_id("a.b@c") == "<a.b@c>"
    assert mail_id("a b@c") is None
    assert mail_id("<nothing>") is None
    assert mail_id("") is None


def test_bad_input_is_refused_not_sent() -> None:
    with pytest.raises(ValueError):
        reply(message_id="not-an-id")
    with pytest.raises(ValueError):
        reply(to_address="two@example.org, three@example.org")


def test_a_newline_in_a_name_or_subject_cannot_inject_a_header() -> None:
    message = reply(to_name="Eve\r\nBcc: victim@example.net", subject="Hi\r\nBcc: x@example.net")
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
