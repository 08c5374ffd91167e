"""Reading inbound mail: the fields, the text, the new part, the files; and no crash, ever."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.mail_read import (
    MAX_DEPTH,
    MailUnreadable,
    html_to_text,
    read_mail,
    reply_text_of,
)

GMAIL_REPLY = (
    b"Return-Path: <jurgen@example.org>\r\n"
    b"Delivered-To: support+t12.abcdefghijklmnop@support.example.com\r\n"
    b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <Jurgen@Example.ORG>\r\n"
    b'To: "ACME Support" <support+t12.abcdefghijklmnop@support.example.com>\r\n'
    b"Cc: boss@example.org, =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\n"
    b"Subject: =?UTF-8?B?UmU6IFsjMTJdIERydWNrZXIgc3RhdSDinJM=?=\r\n"
    b"Date: Tue, 1 Dec 2026 13:05:00 +0100\r\n"
    b"Message-ID: <CAF=abc123@mail.gmail.com>\r\n"
    b"In-Reply-To: <smsdesk.t12.m40.zz@support.example.com>\r\n"
    b"References: <first@example.org>\r\n <smsdesk.t12.m40.zz@support.example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n'
    b"\r\n"
    b"--alt\r\n"
    b'Content-Type: text/plain; charset="UTF-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Danke, es geht wieder =E2=80=94 aber nur hinten.\r\n"
    b"\r\n"
    b"On Tue, Dec 1, 2026 at 12:00 PM ACME Support <support@example.com> wrote:\r\n"
    b"> Bitte das hintere Fach probieren.\r\n"
    b"> Gr=C3=BC=C3=9Fe\r\n"
    b"--alt\r\n"
    b'Content-Type: text/html; charset="UTF-8"\r\n'
    b"\r\n"
    b"<div>Danke, es geht wieder</div>\r\n"
    b"--alt--\r\n"
    b"--outer\r\n"
    b'Content-Type: image/png; name="scan.png"\r\n'
    b'Content-Disposition: inline; filename="scan.png"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-ID: <img1>\r\n"
    b"\r\n" + base64.encodebytes(b"\x89PNG\r\n\x1a\nDATA") + b"--outer\r\n"
    b"Content-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(b"%PDF-1.4 data") + b"--outer--\r\n"
)


def mail(headers: str, body: str | bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return (
        f"From: Ann <ann@example.org>\r\nTo: support@example.com\r\n{headers}"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + data


def test_a_real_looking_reply_reads_completely() -> None:
    inbound = read_mail(GMAIL_REPLY)
    assert inbound.from_address == "Jurgen@example.org"
    assert inbound.from_name == "Jürgen Müller"
    assert inbound.to_addresses == ("support+t12.abcdefghijklmnop@support.example.com",)
    assert inbound.cc_addresses == ("boss@example.org", "andre@example.org")
    assert inbound.delivered_to == ("support+t12.abcdefghijklmnop@support.example.com",)
    assert inbound.subject == "Re: [#12] Drucker stau ✓"
    assert inbound.message_id == "<CAF=abc123@mail.gmail.com>"
    assert inbound.in_reply_to == ("<smsdesk.t12.m40.zz@support.example.com>",)
    assert inbound.references == (
        "<first@example.org>",
        "<smsdesk.t12.m40.zz@support.example.com>",
    )
    assert inbound.thread_ids[0] == "<smsdesk.t12.m40.zz@support.example.com>"
    assert inbound.date is not None and inbound.date.utcoffset().total_seconds() == 3600
    assert inbound.text.startswith("Danke, es geht wieder — aber nur hinten.")
    assert "> Grüße" in inbound.text
    assert inbound.reply_text == "Danke, es geht wieder — aber nur hinten."
    assert [(a.filename, a.content_type, a.data) for a in inbound.attachments] == [
        ("scan.png", "image/png", b"\x89PNG\r\n\x1a\nDATA"),
        ("Rechnung März.pdf", "application/pdf", b"%PDF-1.4 data"),
    ]
    assert inbound.raw == GMAIL_REPLY
    assert inbound.auto_submitted is None


def test_html_only_mail_becomes_safe_text() -> None:
    html = (
        "<html><head><title>t</title><style>p {color:red}</style>"
        "<script>fetch('https://evil.example/x')</script></head><body>"
        "<p>Hello &amp; thanks &lt;3</p><p>See <a href='https://acme.example/faq'>the FAQ</a>"
        "<img src='https://tracker.example/p.gif' alt='logo'></p>"
        "<ul><li>one</li><li>two</li></ul>"
        "<blockquote>old text</blockquote></body></html>"
    )
    inbound = read_mail(mail("Subject: hi\r\n", html, "text/html; charset=utf-8"))
    assert inbound.text == (
        "Hello & thanks <3\n\nSee the FAQ (https://acme.example/faq)[logo]\n\n- one\n- two\n\n"
        "> old text"
    )
    assert (
        "evil" not in inbound.text and "color" not in inbound.text and "tracker" not in inbound.text
    )
    assert inbound.reply_text.startswith("Hello & thanks <3")
    assert "old text" not in inbound.reply_text


def test_html_to_text_keeps_preformatted_text_and_mail_links() -> None:
    text = html_to_text("<pre>  indented\n  code</pre><a href='mailto:a@b.example'>a@b.example</a>")
    assert text == "  indented\n  code\n\na@b.example"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Thanks, that fixed it!\n\n"
            "On Tue, 1 Dec 2026 at 10:00, Support <s@example.com> wrote:\n"
            "> Try restarting.",
            "Thanks, that fixed it!",
        ),
        (
            "Hi,\nThanks, that fixed it. But now:\n- it blinks\n- it beeps\n\n-- \nJohn Doe\nACME",
            "Hi,\nThanks, that fixed it. But now:\n- it blinks\n- it beeps",
        ),
        ("Yes please.\n\nSent from my iPhone", "Yes please."),
        (
            "Sure.\n\n________________________________\nFrom: Support <s@example.com>\n"
            "Sent: Tuesday, December 1, 2026 10:00\nTo: John\nSubject: Re: [#12] Printer\n\nTry",
            "Sure.",
        ),
        ("Ok\n\n-----Original Message-----\nFrom: x\nTo: y\nold", "Ok"),
        (
            "On Tue, 1 Dec 2026, Support wrote:\n> question?\n\nMy answer below.\n\n-- \nsig",
            "My answer below.",
        ),
        ("Danke!\n\nAm 01.12.2026 um 10:00 schrieb Support <s@example.com>:\n> Hallo", "Danke!"),
        (
            "Merci !\n\nLe 1 déc. 2026 à 10:00, Support <s@example.com> a écrit :\n> Bonjour",
            "Merci !",
        ),
        ("Best regards,\nJohn", "Best regards,\nJohn"),
        ("> only quoted\n> nothing new", "> only quoted\n> nothing new"),
        ("", ""),
    ],
)
def test_reply_text_keeps_only_the_new_words(body: str, expected: str) -> None:
    assert reply_text_of(body) == expected


def test_the_splitter_is_fast_on_hostile_text() -> None:
    started = time.monotonic()
    for hostile in ["On " + "x " * 20000, "On a" * 10000, "\n" * 20000 + "x", "From: a\n" * 5000]:
        reply_text_of(hostile)
    assert time.monotonic() - started < 5


def test_charset_errors_are_replaced_never_raised() -> None:
    inbound = read_mail(
        b"From: =?x-unknown?q?Bad?= <a@example.org>\r\nSubject: caf\xe9 \xff\r\n"
        b"Content-Type: text/plain; charset=zlib\r\n\r\nna\xefve \xff\xfe"
    )
    assert inbound.from_address == "a@example.org"
    assert "caf" in inbound.subject
    assert inbound.text.startswith("na")
    latin = read_mail(mail("", "Gr\xfc\xdfe".encode("latin-1"), "text/plain; charset=iso-8859-1"))
    assert latin.text == "Grüße"


def test_a_sender_is_found_in_sender_or_return_path_when_from_is_broken() -> None:
    inbound = read_mail(b"From: nobody\r\nSender: real@example.org\r\n\r\nhi")
    assert inbound.from_address == "real@example.org"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"   \r\n", "empty message"),
        (b"just some words without any header at all\n", "no mail headers"),
        (b"\x00\x01\x02\xff", "no mail headers"),
        (b"Subject: hi\r\n\r\nbody", "no usable sender address"),
        (b"From: undisclosed\r\nSubject: hi\r\n\r\nbody", "no usable sender address"),
    ],
)
def test_what_is_no_mail_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MailUnreadable) as refused:
        read_mail(raw)
    assert refused.value.reason == reason


def test_a_mail_without_text_keeps_its_files() -> None:
    inbound = read_mail(
        mail(
            "MIME-Version: 1.0\r\n",
            base64.encodebytes(b"JPEGDATA"),
            "image/jpeg",
        ).replace(
            b"Content-Type: image/jpeg",
            b"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64",
        )
    )
    assert inbound.text == ""
    assert inbound.reply_text == ""
    assert [(a.filename, a.content_type, a.data) for a in inbound.attachments] == [
        ("attachment-1.jpg", "image/jpeg", b"JPEGDATA")
    ]


def test_a_forwarded_mail_is_kept_as_an_eml_and_paths_in_names_are_dropped() -> None:
    raw = mail(
        "",
        "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: x@example.net\r\nSubject: old\r\n\r\nold body\r\n"
        "--b\r\nContent-Type: text/plain\r\n"
        'Content-Disposition: attachment; filename="../../etc/passwd"\r\n\r\n'
        "root\r\n--b--\r\n",
        "multipart/mixed; boundary=b",
    )
    inbound = read_mail(raw)
    assert inbound.text == "see below"
    assert [(a.filename, a.content_type) for a in inbound.attachments] == [
        ("attachment-1.eml", "message/rfc822"),
        ("passwd", "text/plain"),
    ]
    assert b"old body" in inbound.attachments[0].data


def nested(depth: int) -> bytes:
    head = "".join(
        f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(depth)
    )
    tail = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return mail(
        "",
        head + f"--b{depth}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b{depth}--\r\n" + tail,
        "multipart/mixed; boundary=b0",
    )


def test_deep_nesting_is_bounded_and_never_crashes() -> None:
    assert read_mail(nested(3)).text == "deep"
    assert read_mail(nested(MAX_DEPTH + 5)).text == ""
    extreme = read_mail(nested(3000))
    assert extreme.from_address == "ann@example.org"


def test_auto_submitted_is_reported() -> None:
    inbound = read_mail(mail("Auto-Submitted: Auto-Replied\r\n", "I am away"))
    assert inbound.auto_submitted == "auto-replied"


def read_or_refuse(raw: bytes) -> None:
    try:
        inbound = read_mail(raw)
    except MailUnreadable as refused:
        assert refused.reason
        return
    assert "@" in inbound.from_address
    assert isinstance(inbound.text, str) and isinstance(inbound.reply_text, str)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_anything_but_unreadable(raw: bytes) -> None:
    read_or_refuse(raw)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bodies_after_a_sender_never_raise(body: bytes) -> None:
    read_or_refuse(b"From: a@example.org\r\n" + body)


@FUZZ
@given(st.data())
def test_mutations_of_a_real_mail_never_raise(data: st.DataObject) -> None:
    raw = bytearray(GMAIL_REPLY)
    for _ in range(data.draw(st.integers(min_value=1, max_value=20))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        chunk = data.draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.sampled_from(
                    [
                        b"\r\n",
                        b"--outer",
                        b"--alt--",
                        b"=?",
                        b"?=",
                        b"=?utf-8?b?",
                        b"<",
                        b">",
                        b";",
                        b"boundary=",
                        b"charset=",
                        b'"',
                        b"*=",
                        b"Content-Type: multipart/mixed",
                    ]
                ),
            )
        )
        if action == "replace":
            raw[position : position + len(chunk)] = chunk
        elif action == "delete":
            del raw[position : position + len(chunk)]
        else:
            raw[position:position] = chunk
    read_or_refuse(bytes(raw))


@FUZZ
@given(st.integers(min_value=0, max_value=60), st.sampled_from(["mixed", "alternative", "related"]))
def test_nesting_of_any_depth_never_raises(depth: int, kind: str) -> None:
    read_or_refuse(nested(depth).replace(b"multipart/mixed", f"multipart/{kind}".encode()))


@FUZZ
@given(st.text(max_size=400))
def test_html_of_any_shape_converts(html: str) -> None:
    assert isinstance(html_to_text("<p>" + html), str)
    assert isinstance(reply_text_of(html), str)
