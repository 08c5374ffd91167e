"""Anything an agent's client sends on the websocket gets an answer; the session survives.

One session through the relay's ASGI app (a real store file; frames in and out
through queues) takes thousands of hypothesis-made frames: garbage, binary,
oversize, and every command with arguments of the wrong type or absurd values.
Each must be answered with a ``result`` or a clear ``error`` (never ``internal``),
the session must keep answering, and the relay must log no traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_harness import CUSTOMER, US_TOLL_FREE, relay_on_loopback, seed

from core import protocol, writes
from core.db import Locator
from core.store import Store
from server.app import Relay
from server.media import FileMediaStore

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
CLEAR_CODES = {"bad_json", "bad_message", "unknown_type", "unknown_command", "bad_args",
               "too_large", "forbidden", "not_found", "refused", "twilio", "conflict"}


class Socket:
    """The client's end of one ASGI websocket session."""

    def __init__(self, app: Relay) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = 0
        self.task = asyncio.create_task(app({"type": "websocket", "path": "/ws"},
                                            self.incoming.get, self.outgoing.put))
        self.incoming.put_nowait({"type": "websocket.connect"})

    def frame(self, data: str | bytes) -> None:
        key = "text" if isinstance(data, str) else "bytes"
        self.incoming.put_nowait({"type": "websocket.receive", key: data})

    async def next(self) -> dict[str, Any]:
        sent = await asyncio.wait_for(self.outgoing.get(), 10)
        assert sent["type"] != "websocket.close", sent
        if sent["type"] == "websocket.accept":
            return await self.next()
        return json.loads(sent["text"])

    async def answer_to(self, command_id: str | None) -> dict[str, Any]:
        while True:
            message = await self.next()
            if message["type"] in ("result", "error") and message.get("id") == command_id:
                return message

    async def command(self, name: str, args: Any) -> dict[str, Any]:
        self._ids += 1
        command_id = f"f{self._ids}"
        self.frame(json.dumps({"type": "command", "id": command_id, "name": name,
                               "args": args}))
        return await self.answer_to(command_id)


@pytest.fixture
async def admin(tmp_path: Path, locator: Locator, monkeypatch: pytest.MonkeyPatch,
                caplog: pytest.LogCaptureFixture) -> AsyncIterator[Socket]:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")  # refused at once
    admin_token, _ = await seed(locator)
    store = await Store.open(locator)
    await store.write(writes.record_inbound, writes.InboundText(  # ticket 1, to act on
        sid="SM" + "1" * 32, to=US_TOLL_FREE, from_=CUSTOMER, body="hello"))
    app = Relay(store=store, public_url="https://relay.example.test",
                media=FileMediaStore(tmp_path / "media"), media_secret=b"s" * 32)
    socket = Socket(app)
    socket.frame(json.dumps({"type": "hello", "version": 1, "token": admin_token,
                             "last_seq": None}))
    while (await socket.next())["type"] != "caught_up":
        pass
    caplog.set_level(logging.WARNING)
    try:
        yield socket
    finally:
        socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(socket.task, 10)
        await store.close()
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def _still_answers(socket: Socket) -> Any:
    return socket.command("count_tickets", {})


# --- the faults found, one by one -------------------------------------------------------


@pytest.mark.parametrize(("name", "args"), [
    ("get_thread", {"ticket_id": 2**70}),
    ("get_thread", {"ticket_id": -(2**63) - 1}),
    ("add_note", {"ticket_id": 1, "body": "\ud800"}),
    ("list_tickets", {"limit": 2**64}),
    ("search", {"text": "\udfff"}),
    ("add_group", {"name": "\ud83d"}),
    ("log_time", {"ticket_id": 1, "seconds": 2**63}),
])
async def test_absurd_argument_values_get_a_clear_error(admin: Socket, name: str,
                                                        args: dict[str, Any]) -> None:
    answer = await admin.command(name, args)
    assert answer["type"] == "error" and answer["code"] in CLEAR_CODES, answer
    assert (await _still_answers(admin))["type"] == "result"


async def test_a_hello_with_an_unencodable_token_is_refused(tmp_path: Path) -> None:
    async with (relay_on_loopback(tmp_path) as relay,
                websockets.connect(relay.url.replace("http", "ws") + "/ws") as socket):
        await socket.send('{"type": "hello", "version": 1, "token": "sd_\\ud800"}')
        refused = json.loads(await socket.recv())
        assert refused["type"] == "error" and refused["code"] in CLEAR_CODES | {"unauthorized"}


# --- fuzz -------------------------------------------------------------------------------

absurd_int = st.integers() | st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1])
absurd_text = st.text(max_size=30) | st.sampled_from(["", "\x00", "\ud800", "%", "*", '"',
                                                      "NEAR(", "a" * 5000, "-- ;"])
json_values = st.recursive(
    st.none() | st.booleans() | absurd_int | st.floats(allow_nan=False) | absurd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(absurd_text, inner, max_size=3),
    max_leaves=8,
)


def _value_like(kind: Any) -> st.SearchStrategy[Any]:
    """Values of the declared type, absurd ones included, and sometimes any type at all."""
    if isinstance(kind, protocol.ListOf):
        return st.lists(_value_like(kind.item), max_size=3) | json_values
    kinds = kind if isinstance(kind, tuple) else (kind,)
    typed = [{int: absurd_int, str: absurd_text, bool: st.booleans(), dict: json_values,
              float: st.floats(allow_nan=False), type(None): st.none()}[k] for k in kinds]
    return st.one_of(*typed) | json_values


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(n for n in protocol.COMMANDS if n not in (
        "check_account", "connect_account"))))  # these two only ask Twilio first
    spec = protocol.COMMANDS[name]
    args = {arg: draw(_value_like(kind)) for arg, kind in spec.required.items()
            if draw(st.integers(0, 9))}  # now and then one is missing
    for arg, kind in spec.optional.items():
        if draw(st.booleans()):
            args[arg] = draw(_value_like(kind))
    return name, args


@FUZZ
@given(command=commands())
async def test_every_command_with_any_args_is_answered_and_the_session_survives(
        admin: Socket, command: tuple[str, dict[str, Any]]) -> None:
    name, args = command
    answer = await admin.command(name, args)
    if answer["type"] == "error":
        assert answer["code"] in CLEAR_CODES, answer


@FUZZ
@given(frame=st.binary(max_size=200) | st.text(max_size=200)
       | json_values.map(json.dumps)
       | st.fixed_dictionaries({"type": st.sampled_from(["hello", "command", "x"]),
                                "id": json_values, "name": json_values,
                                "args": json_values}).map(json.dumps))
async def test_garbage_frames_get_an_error_and_the_session_survives(admin: Socket,
                                                                    frame: str | bytes) -> None:
    admin.frame(frame)
    assert (await _still_answers(admin))["type"] == "result"


async def test_a_frame_over_the_limit_is_refused_and_the_session_survives(
        admin: Socket) -> None:
    admin.frame(b"x" * (protocol.MAX_MESSAGE_BYTES + 1))
    assert (await admin.answer_to(None))["code"] == "too_large"
    assert (await _still_answers(admin))["type"] == "result"


async def test_binary_and_oversize_frames_on_a_real_relay(tmp_path: Path) -> None:
    async with relay_on_loopback(tmp_path) as relay:
        async with relay.agent() as bo:
            await bo.until("caught_up")
            await bo.socket.send(b"\xff\xfe\x00garbage")
            assert (await bo.until("error"))["code"] == "bad_json"
            await bo.socket.send(b'{"type": "command", "id": "b1", "name": "count_tickets"}')
            assert (await bo.until("result"))["id"] == "b1"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await bo.socket.send("x" * (protocol.MAX_MESSAGE_BYTES + 1))
                await bo.receive()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        async with relay.agent() as again:  # the relay is none the worse
            await again.until("caught_up")
            assert (await again.command("count_tickets"))["result"] == 0
