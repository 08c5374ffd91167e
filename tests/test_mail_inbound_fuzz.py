"""Whatever a client sends the mail listener, it answers with an SMTP code and keeps going.

Garbage bytes, broken MIME, huge headers, NULs and 8-bit mail sent without SMTPUTF8 go
over a real socket to a relay's listener (both backends). Each DATA gets a 2xx, 4xx or
5xx reply, never a dropped connection, and what was acknowledged with 250 is stored
(or was a bounce report): mail is refused or kept, never lost silently.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mail_inbound import ANN, SUPPORT, MailDesk, mail_desk

from core.mail_bounce import bounce_of
from core.models import Channel, Direction

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
REPLY = re.compile(rb"^[2345]\d\d[ -]")  # 3xx: DATA's go-ahead, AUTH's challenge
FINAL = re.compile(rb"^[245]\d\d ")


@pytest.fixture
async def inbox(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MailDesk]:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")
    database = None if store_backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    async with mail_desk(tmp_path, database) as desk:
        yield desk


class Client:
    """SMTP by hand: a client that sends what it is given, however wrong."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> list[bytes]:
        """One whole reply (all its lines); fails if the server hung up without one."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 60)
            assert line, f"the listener hung up without answering (after {lines})"
            assert REPLY.match(line), line
            lines.append(line)
            if line[3:4] == b" ":
                return lines

    async def say(self, line: bytes) -> list[bytes]:
        self.writer.write(line + b"\r\n")
        await self.writer.drain()
        return await self.reply()


async def connected(port: int) -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    client = Client(reader, writer)
    assert (await client.reply())[0].startswith(b"220")
    return client


def dot_stuffed(data: bytes) -> bytes:
    """``data`` as DATA carries it: lines starting with a dot doubled, ended with CRLF."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


async def send_data(desk: MailDesk, data: bytes, *, mail_from: bytes = b"") -> bytes:
    """One whole mail transaction carrying ``data``; the final reply's last line."""
    client = await connected(desk.port)
    try:
        await client.say(b"EHLO fuzz.example.org")
        said = await client.say(b"MAIL FROM:<" + (mail_from or ANN.encode()) + b">")
        assert said[-1].startswith(b"250"), said
        assert (await client.say(f"RCPT TO:<{SUPPORT}>".encode()))[-1].startswith(b"250")
        assert (await client.say(b"DATA"))[-1].startswith(b"354")
        client.writer.write(dot_stuffed(data))
        await client.writer.drain()
        final = (await client.reply())[-1]
        assert FINAL.match(final), final
        assert (await client.say(b"NOOP"))[-1].startswith(b"250")  # still talking
        return final
    finally:
        client.writer.close()


async def assert_kept_if_acknowledged(desk: MailDesk, data: bytes, final: bytes) -> None:
    if not final.startswith(b"250"):
        return
    words = final.decode("ascii", "replace")
    if "message" in words and "stored" in words:
        message = await desk.message(await desk.stored_id(words))
        assert (message.channel, message.direction) == (Channel.EMAIL, Direction.INBOUND)
        assert message.mail_original is not None
    else:
        assert bounce_of(data) is not None, words  # a report about mail, not mail


# --- what a mail can be made of ----------------------------------------------------------

header_names = st.sampled_from([b"From", b"To", b"Subject", b"Message-ID", b"In-Reply-To",
                                b"References", b"Content-Type", b"Content-Transfer-Encoding",
                                b"MIME-Version", b"Cc", b"X-\xff\xfe", b"", b"From "])
senders = st.sampled_from([b"Ann <ann@example.org>", b"ann@example.org", b"<>", b"",
                           b"=?utf-8?b?w4lsw6g=?= <elo@example.org>", b"\xe9l\xe8@example.org",
                           b"a@b@c", b"ann@example.org\x00", b"\"x\" <>", b"x" * 3000])
values = st.binary(max_size=300) | st.sampled_from([
    b"multipart/mixed; boundary=\"b\"", b"multipart/alternative", b"text/html; charset=bogus",
    b"base64", b"quoted-printable", b"=?x-unknown?q?=FF?=", b"<a@b> <c@d", b"[#1] [#99999]",
    b"text/plain; charset=\"utf-8\"", b"message/rfc822", b"multipart/report"])
bodies = st.binary(max_size=1500) | st.sampled_from([
    b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n",  # never closed
    b"--b\r\n\r\n--b--\r\n--b--\r\n", b"====\r\n!!!not base64\x00\x00", b"\xff" * 500,
    b"<html><body><p>caf\xe9</p><img src=http://x.example/a.png></body></html>",
    b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" * 30])


@st.composite
def broken_mail(draw: st.DrawFn) -> bytes:
    sender = draw(st.just(b"Ann <ann@example.org>") | senders)  # often one to answer
    lines = [b"From: " + sender] if draw(st.integers(0, 3)) else []
    for _ in range(draw(st.integers(0, 8))):
        value = draw(values)
        if draw(st.integers(0, 9)) == 0:
            value *= draw(st.integers(50, 400))  # a huge header
        lines.append(draw(header_names) + b": " + value)
    lines = draw(st.permutations(lines))
    head = b"\r\n".join(lines)
    mail = head + b"\r\n\r\n" + draw(bodies)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(mail)))
        mail = mail[:at] + b"\x00" * draw(st.integers(1, 5)) + mail[at:]
    return mail


@FUZZ
@given(data=st.binary(max_size=3000))
async def test_garbage_bytes_are_answered(inbox: MailDesk, data: bytes) -> None:
    final = await send_data(inbox, data)
    await assert_kept_if_acknowledged(inbox, data, final)


@FUZZ
@given(data=broken_mail())
async def test_broken_mime_huge_headers_nuls_and_8_bit_are_answered(inbox: MailDesk,
                                                                    data: bytes) -> None:
    final = await send_data(inbox, data)
    await assert_kept_if_acknowledged(inbox, data, final)


@FUZZ
@given(lines=st.lists(st.binary(max_size=600).filter(
    lambda line: b"\n" not in line and b"\r" not in line
    and not line.upper().lstrip().startswith((b"QUIT", b"AUTH"))), max_size=12))
async def test_any_command_line_gets_an_answer(inbox: MailDesk, lines: list[bytes]) -> None:
    client = await connected(inbox.port)
    try:
        for line in lines:
            said = (await client.say(line))[-1]
            if said.startswith(b"421") or b"goodbye" in said:  # too many bad commands
                assert await client.reader.read() == b""  # said why, then hung up
                return
        assert (await client.say(b"NOOP"))[-1].startswith(b"250")
    finally:
        client.writer.close()


async def test_a_line_over_the_limit_is_refused_and_the_session_goes_on(
        inbox: MailDesk) -> None:
    mail = b"From: ann@example.org\r\nSubject: long\r\n\r\n" + b"x" * (2 << 20)
    final = await send_data(inbox, mail)
    assert final.startswith(b"500"), final
    assert await inbox.inbound_count() == 0


async def test_eight_bit_mail_without_smtputf8_is_kept(inbox: MailDesk) -> None:
    mail = ("From: Élodie <elo@example.org>\r\nTo: support@support.example.com\r\n"
            "Subject: Café\r\nMessage-ID: <8bit@example.org>\r\n\r\nMerci, ça marche\r\n")
    final = await send_data(inbox, mail.encode("latin-1"))
    assert final.startswith(b"250"), final
    message = await inbox.message(await inbox.stored_id(final.decode()))
    assert "marche" in message.body
