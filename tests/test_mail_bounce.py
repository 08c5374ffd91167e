"""Bounces: real-looking DSNs from Postfix and Gmail, a qmail notice, and what is not one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.mail_bounce import MAX_DIAGNOSTIC, bounce_of
from core.mail_read import read_mail

OUR_ID = "<smsdesk.t12.m40.abcd@support.example.com>"

POSTFIX_DSN = b"""Return-Path: <>
Received: by mail.example.com (Postfix) id 3F2A1C0D2E; Tue,  1 Dec 2026 13:10:02 +0000 (UTC)
Date: Tue,  1 Dec 2026 13:10:02 +0000 (UTC)
From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@example.com
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="3F2A1C0D2E.1764594602/mail.example.com"
Content-Transfer-Encoding: 8bit
Message-Id: <20261201131002.4B7C2C0D2F@mail.example.com>

This is a MIME-encapsulated message.

--3F2A1C0D2E.1764594602/mail.example.com
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

                   The mail system

<nobody@example.org>: host mx.example.org[203.0.113.5] said: 550 5.1.1
    <nobody@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--3F2A1C0D2E.1764594602/mail.example.com
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.com
X-Postfix-Queue-ID: 3F2A1C0D2E
X-Postfix-Sender: rfc822; support@example.com
Arrival-Date: Tue,  1 Dec 2026 13:10:01 +0000 (UTC)

Final-Recipient: rfc822; nobody@example.org
Original-Recipient: rfc822;nobody@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

--3F2A1C0D2E.1764594602/mail.example.com
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <support@example.com>
From: ACME Support <support@example.com>
To: nobody@example.org
Subject: Re: [#12] Printer jams
Message-ID: <smsdesk.t12.m40.abcd@support.example.com>

--3F2A1C0D2E.1764594602/mail.example.com--
""".replace(b"\n", b"\r\n")


def gmail_dsn(action: str, status: str, diagnostic: str, subject_word: str) -> bytes:
    return f"""Delivered-To: support@example.com
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@example.com
Auto-Submitted: auto-replied
Subject: Delivery Status Notification ({subject_word})
Message-ID: <5f1b2c.{action}@mx.google.com>
Date: Tue, 01 Dec 2026 05:10:02 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000abc"; report-type=delivery-status

--000000000000abc
Content-Type: multipart/related; boundary="000000000000def"

--000000000000def
Content-Type: multipart/alternative; boundary="000000000000ghi"

--000000000000ghi
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to gone@example.net because the address couldn't be found.

--000000000000ghi
Content-Type: text/html; charset="UTF-8"

<html><body><h2>Address not found</h2></body></html>
--000000000000ghi--
--000000000000def--
--000000000000abc
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; support.example.com
Arrival-Date: Tue, 01 Dec 2026 05:10:01 -0800 (PST)
X-Original-Message-ID: <smsdesk.t12.m40.abcd@support.example.com>

Final-Recipient: rfc822; gone@example.net
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.net. (203.0.113.7, the server for the domain example.net.)
Diagnostic-Code: smtp; {diagnostic}
Last-Attempt-Date: Tue, 01 Dec 2026 05:10:02 -0800 (PST)

--000000000000abc
Content-Type: message/rfc822

From: ACME Support <support@example.com>
To: gone@example.net
Subject: Re: [#12] Printer jams
Message-ID: <smsdesk.t12.m40.abcd@support.example.com>
Content-Type: text/plain; charset=utf-8

Please try the rear tray.

--000000000000abc--
""".replace("\n", "\r\n").encode()


QMAIL_NOTICE = b"""From: MAILER-DAEMON@mx.example.net
To: support@example.com
Subject: failure notice
Date: 1 Dec 2026 13:10:02 -0000
Message-ID: <qmail.1@mx.example.net>

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@example.net>:
203.0.113.9 does not like recipient.
Remote host said: 550 5.1.1 User unknown
Giving up on 203.0.113.9.

--- Below this line is a copy of the message.

Return-Path: <support@example.com>
Message-ID: <smsdesk.t7.m9.q@support.example.com>
Subject: Re: [#7] Hello

Hello there
""".replace(b"\n", b"\r\n")


def test_a_postfix_dsn_is_a_bounce_with_the_servers_words() -> None:
    bounce = bounce_of(POSTFIX_DSN)
    assert bounce is not None
    assert bounce.failed and not bounce.delayed and bounce.standard
    assert bounce.original_message_id == OUR_ID
    assert bounce.recipient == "nobody@example.org"
    assert bounce.status == "5.1.1"
    assert bounce.diagnostic == (
        "550 5.1.1 <nobody@example.org>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert bounce.detail.startswith("5.1.1 550 5.1.1 <nobody@example.org>")


def test_the_same_answer_from_an_already_read_mail() -> None:
    assert bounce_of(read_mail(POSTFIX_DSN)) == bounce_of(POSTFIX_DSN)


def test_a_gmail_dsn_finds_the_original_in_the_returned_message() -> None:
    bounce = bounce_of(
        gmail_dsn("failed", "5.1.1", "550-5.1.1 The email account does not exist.", "Failure")
    )
    assert bounce is not None and bounce.failed
    assert bounce.original_message_id == OUR_ID
    assert bounce.recipient == "gone@example.net"
    assert bounce.status == "5.1.1"
    assert bounce.diagnostic == "550-5.1.1 The email account does not exist."


def test_a_delay_notice_is_not_a_bounce_and_says_so() -> None:
    bounce = bounce_of(
        gmail_dsn("delayed", "4.4.1", "421 4.4.1 Connection timed out, will retry", "Delay")
    )
    assert bounce is not None
    assert bounce.delayed and not bounce.failed
    assert bounce.status == "4.4.1"
    assert bounce.original_message_id == OUR_ID


def test_a_positive_delivery_report_is_no_bounce() -> None:
    assert bounce_of(gmail_dsn("delivered", "2.0.0", "250 2.0.0 OK", "Success")) is None


def test_the_envelope_id_names_the_original_when_nothing_was_returned() -> None:
    raw = POSTFIX_DSN.split(
        b"--3F2A1C0D2E.1764594602/mail.example.com\r\nContent-Description: Undel"
    )[0]
    raw = (
        raw.replace(
            b"Reporting-MTA: dns; mail.example.com",
            b"Reporting-MTA: dns; mail.example.com\r\nOriginal-Envelope-Id: " + OUR_ID.encode(),
        )
        + b"--3F2A1C0D2E.1764594602/mail.example.com--\r\n"
    )
    bounce = bounce_of(raw)
    assert bounce is not None and bounce.original_message_id == OUR_ID


def test_a_qmail_failure_notice_is_recognised_without_a_dsn() -> None:
    bounce = bounce_of(QMAIL_NOTICE)
    assert bounce is not None and bounce.failed and not bounce.standard
    assert bounce.original_message_id == "<smsdesk.t7.m9.q@support.example.com>"
    assert bounce.recipient == "nobody@example.net"
    assert bounce.status == "5.1.1"
    assert bounce.diagnostic == "Remote host said: 550 5.1.1 User unknown"


def test_a_notice_saying_it_will_retry_is_a_delay() -> None:
    delayed = (
        QMAIL_NOTICE.replace(
            b"This is a permanent error; I've given up. Sorry it didn't work out.",
            b"Delivery has been delayed; the system will retry.",
        )
        .replace(b"Remote host said: 550 5.1.1 User unknown\r\n", b"")
        .replace(b"Giving up", b"Still trying")
    )
    bounce = bounce_of(delayed)
    assert bounce is not None and bounce.delayed


@pytest.mark.parametrize(
    "raw",
    [
        # A customer's ordinary reply that quotes our headers is no bounce.
        b"From: ann@example.org\r\nSubject: Re: [#7] Hello\r\n\r\nThanks\r\n"
        b"> Message-ID: <smsdesk.t7.m9.q@support.example.com>\r\n",
        # A vacation notice is no bounce.
        b"From: ann@example.org\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\n"
        b"I am away until Monday.\r\n",
        # A bounce-like notice that names no message of ours cannot be tied to one.
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failure notice\r\n\r\nSorry.\r\n",
        b"",
        b"\x00\xff garbage",
    ],
)
def test_what_is_not_a_bounce(raw: bytes) -> None:
    assert bounce_of(raw) is None


def test_a_long_diagnostic_is_capped() -> None:
    bounce = bounce_of(gmail_dsn("failed", "5.7.1", "550 5.7.1 " + "blocked " * 200, "Failure"))
    assert bounce is not None and len(bounce.diagnostic) == MAX_DIAGNOSTIC


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_reports_never_raise(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from([POSTFIX_DSN, QMAIL_NOTICE])))
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        chunk = data.draw(
            st.one_of(
                st.binary(min_size=1, max_size=6),
                st.sampled_from(
                    [b"\r\n", b"\r\n\r\n", b"Action: ", b"Status: 5.", b";", b"<", b"--"]
                ),
            )
        )
        raw[position : position + data.draw(st.integers(0, 6))] = chunk
    bounce = bounce_of(bytes(raw))
    assert bounce is None or bounce.action in ("failed", "delayed")
