"""A relay killed while the mail server is taking an email never sends it twice.

``smsdesk relay`` runs as a process of its own; the test's mail server (aiosmtpd, in
this process) holds DATA open while the test kills the relay (SIGKILL): "handing over"
was committed before DATA, so the restarted relay marks the reply failed with words
that say it may have gone (SMTP cannot be asked), and the server gets it once. A relay
killed before it reached the server sends the reply normally after the restart. Both
backends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mail_server import Handler, free_port, mail_server
from relay_harness import RelayProcess, harness_for, relay_process, seed
from test_mail_outbound import database, settings_for  # noqa: F401

from core import queries
from core.models import Message, MessageStatus
from core.store import Store
from server.config import Paths
from server.mail_outbox import GRACE_VARIABLE, IN_DOUBT_AFTER_CRASH

PUBLIC = "https://relay.example.test"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "relay"


@pytest.fixture
async def tokens(home: Path, database: str | None) -> tuple[str, str]:  # noqa: F811
    return await seed(Paths(home, database).store)


@pytest.fixture
def start(home: Path, database: str | None) -> Iterator[object]:  # noqa: F811
    """Start (again) the relay process on this home and database."""
    def started(port: int) -> object:
        # A PostgreSQL relay always leads "after a takeover": no need to wait a minute here.
        return relay_process(home, port, public_url=PUBLIC, database=database,
                             env={GRACE_VARIABLE: "1"})
    yield started


async def stored(home: Path, database: str | None, message_id: int) -> Message:  # noqa: F811
    async with await Store.open(Paths(home, database).store) as store:
        entry = await store.read(queries.entry, message_id)
    assert isinstance(entry, Message)
    return entry


async def queue_a_reply(relay: RelayProcess, tokens: tuple[str, str], port: int) -> int:
    harness = harness_for(relay, PUBLIC, *tokens)
    status, _ = await harness.text("Where is my order?")
    assert status == 200
    async with harness.agent(harness.admin_token) as admin:
        server = type("Server", (), {"port": port})
        saved = await admin.command("save_email_settings", changes=settings_for(server))
        assert saved["type"] == "result", saved
        tickets = await admin.command("list_tickets")
        ticket = tickets["result"]["items"][0]["ticket"]
        await admin.command("update_contact", contact_id=ticket["contact_id"],
                            email="jo@example.com")
        answer = await admin.command("reply", ticket_id=ticket["id"], channel="email",
                                     body="Your order left today.")
        assert answer["type"] == "result", answer
        return int(answer["result"]["id"])


async def test_a_relay_killed_during_data_never_sends_twice(
    home: Path, database: str | None, tokens: tuple[str, str], start: object,  # noqa: F811
) -> None:
    handler = Handler(hold_data=threading.Event())
    with mail_server(handler=handler) as server:
        port = free_port()
        with start(port) as relay:  # type: ignore[operator]
            message_id = await queue_a_reply(relay, tokens, server.port)
            assert await asyncio.to_thread(handler.data_started.wait, 20)
            sending = await stored(home, database, message_id)
            assert (sending.status, sending.mail_detail) == (
                MessageStatus.SENDING, "handing over to the mail server")
            relay.process.kill()
            relay.process.wait()
        assert handler.hold_data is not None
        handler.hold_data.set()
        assert len(handler.received) == 1  # the server took it, though the relay never knew
        with start(port):  # type: ignore[operator]
            deadline = time.monotonic() + 20
            while (await stored(home, database, message_id)).status is MessageStatus.SENDING:
                assert time.monotonic() < deadline, "the restarted relay left it in doubt"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # time enough for a second send, if there were one
    failed = await stored(home, database, message_id)
    assert (failed.status, failed.mail_detail) == (MessageStatus.FAILED, IN_DOUBT_AFTER_CRASH)
    assert len(handler.received) == 1


async def test_a_relay_killed_before_the_server_took_it_sends_it_after_the_restart(
    home: Path, database: str | None, tokens: tuple[str, str], start: object,  # noqa: F811
) -> None:
    # The server refuses for now (451) at first: the reply waits, queued, when the relay dies.
    handler = Handler(rcpt_answers=["451 4.3.2 Not now"] * 3)
    with mail_server(handler=handler) as server:
        port = free_port()
        with start(port) as relay:  # type: ignore[operator]
            message_id = await queue_a_reply(relay, tokens, server.port)
            deadline = time.monotonic() + 20
            while (await stored(home, database, message_id)).mail_detail != "451 4.3.2 Not now":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            relay.process.kill()
            relay.process.wait()
        handler.rcpt_answers.clear()
        with start(port):  # type: ignore[operator]
            deadline = time.monotonic() + 20
            while (await stored(home, database, message_id)).status is not MessageStatus.SENT:
                assert time.monotonic() < deadline, "not sent after the restart"
                await asyncio.sleep(0.1)
    sent = await stored(home, database, message_id)
    assert sent.mail_detail == "250 2.0.0 Ok: queued as Q1"
    assert len(handler.received) == 1
