"""The relay's edges: stalled clients, forged media URLs, slow websocket readers, pacing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from relay_harness import ACCOUNT_SID, CUSTOMER, US_TOLL_FREE, Harness, relay_on_loopback

from core import queries
from core.models import Event, SenderType
from server.hub import QUEUE_LIMIT, Hub
from server.media import is_twilio_media_url
from server.outbox import RateLimiter


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


async def test_a_stalled_webhook_is_cut_off(relay: Harness) -> None:
    relay.relay.read_timeout = 0.3
    host, port = relay.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\n\r\nMessageSid=SM")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line.split()[1] == b"408"
    writer.close()


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(b"x")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def harvester() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


async def test_a_forged_media_url_never_gets_the_credentials(relay: Harness,
                                                            harvester: str) -> None:
    _Recorder.seen.clear()
    status, _ = await relay.text("look", NumMedia="1", MediaContentType0="image/png",
                                 MediaUrl0=f"{harvester}/2010-04-01/Accounts/{ACCOUNT_SID}"
                                 "/Messages/MM1/Media/ME1")
    assert status == 200  # the text is kept; the attachment is marked unavailable
    assert _Recorder.seen == []
    page = await relay.relay.store.read(queries.list_tickets)
    message = (await relay.relay.store.read(queries.thread, page.items[0].ticket.id)).items[0]
    assert message.media[0].sha256 == ""


def test_only_the_accounts_own_twilio_media_urls_are_trusted() -> None:
    own = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    assert is_twilio_media_url(own, ACCOUNT_SID)
    assert not is_twilio_media_url(own.replace("https://", "http://"), ACCOUNT_SID)
    assert not is_twilio_media_url(own.replace("api.twilio.com", "evil.example"), ACCOUNT_SID)
    assert not is_twilio_media_url(own, "AC" + "0" * 32)
    assert not is_twilio_media_url(own.replace("/Media/", "/../../Media/"), ACCOUNT_SID)


def test_a_subscriber_that_falls_behind_is_marked_and_dropped() -> None:
    hub = Hub()
    kicked: list[str] = []
    slow = hub.subscribe(on_overflow=lambda: kicked.append("slow"))
    fast = hub.subscribe(on_overflow=lambda: kicked.append("fast"))
    events = [Event(seq=i, kind="x", ticket_id=None, payload={}, at=0)
              for i in range(QUEUE_LIMIT + 1)]
    hub.publish(events[:QUEUE_LIMIT])
    fast.pending.clear()
    hub.publish(events[QUEUE_LIMIT:])
    assert kicked == ["slow"]
    assert slow.overflowed and not fast.overflowed
    assert len(fast.pending) == 1
    assert fast.pending[0][0] == QUEUE_LIMIT  # (seq, wire text), encoded once


async def test_a_long_code_sends_at_most_once_a_second() -> None:
    limiter = RateLimiter({SenderType.LONG_CODE: 1.0, SenderType.TOLL_FREE: 3.0})
    start = time.monotonic()
    for _ in range(3):
        await limiter.wait_turn("+12025550123", SenderType.LONG_CODE)
    assert time.monotonic() - start >= 1.9
    start = time.monotonic()
    await limiter.wait_turn("+18885550100", SenderType.TOLL_FREE)  # another sender: no wait
    assert time.monotonic() - start < 0.1


async def test_texts_to_an_unconnected_number_are_not_acknowledged(relay: Harness) -> None:
    status, _ = await relay.text("hello?", to="+12025550199")
    assert status == 404
    assert await relay.relay.store.read(queries.count_tickets) == 0
    assert (await relay.text("hello", from_=CUSTOMER, to=US_TOLL_FREE))[0] == 200


async def test_status_reports_for_unknown_messages_are_bounded(relay: Harness,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setattr("core.writes.EARLY_STATUS_LIMIT", 3)
    for n in range(5):
        params = {"MessageSid": f"SM{n:032x}", "AccountSid": ACCOUNT_SID,
                  "MessageStatus": "delivered"}
        assert (await relay.post("/twilio/status", params))[0] == 200
    kept = await relay.relay.store.read(
        lambda conn: [row[0] for row in conn.execute(
            "SELECT twilio_sid FROM early_statuses ORDER BY id")])
    assert kept == [f"SM{n:032x}" for n in (2, 3, 4)]
