"""The channel's message-type table as a test matrix, end to end: the Twilio simulator,
a real relay (uvicorn, websockets, the store on SQLite and on PostgreSQL) and an agent.

The table (the feature source, freshdesk-twilio-sms.txt, "Message types supported"):

    Message type | User to agent | User to bot | Agent to user | Bot to user
    Text         | Yes           | Yes         | Yes           | Yes
    Image        | Yes           | Yes         | Yes           | Yes
    Video        | Yes           | Yes         | Yes           | Via public URL
    Audio        | Yes           | Yes         | Via app       | No
    File         | Yes           | Yes         | Yes           | Yes
    Emoji        | Yes           | Yes         | Yes           | Yes
    GIF          | Yes           | Yes         | Yes           | —

and beside it: "Agents with an SMS-only number can send text messages only. Media
attachments are not available for these numbers." Each row is played with every sample of
it the simulator has (server/simulator/content.py: Image is a JPEG and a PNG, Audio an MP3
and an Ogg Opus, File a PDF and a vCard), on the MMS-enabled number and the SMS-only one.

Audio "via app": the agent attaches the recording in the inbox (upload_media, then a reply
naming it); core.preflight accepts audio/mpeg and audio/ogg for MMS, so on an MMS number it
goes like any attachment, and the simulator, fetching it as Twilio does, takes it.

The bot columns (user→bot, bot→user) are played by ``test_user_to_bot`` and
``test_bot_to_user`` against ``USER_TO_BOT`` and ``BOT_TO_USER`` below, ``bot_cases(column)``
their parametrization (every kind on each number, with the column's word for its row). Each
turns a flow on for its own block only, so the agent's cases run with no bot.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk
from relay_harness import AgentClient, Harness

from server.simulator.content import KINDS, TABLE, sample

IN_THE_MODULES_LOOP = pytest.mark.asyncio(loop_scope="module")  # the desk's loop

NUMBERS = {"mms": US_TOLL_FREE, "sms_only": UK_LONG_CODE}

USER_TO_AGENT = {"Text": "Yes", "Image": "Yes", "Video": "Yes", "Audio": "Yes", "File": "Yes",
                 "Emoji": "Yes", "GIF": "Yes"}
AGENT_TO_USER = {"Text": "Yes", "Image": "Yes", "Video": "Yes", "Audio": "Via app",
                 "File": "Yes", "Emoji": "Yes", "GIF": "Yes"}
USER_TO_BOT = {"Text": "Yes", "Image": "Yes", "Video": "Yes", "Audio": "Yes", "File": "Yes",
               "Emoji": "Yes", "GIF": "Yes"}
BOT_TO_USER = {"Text": "Yes", "Image": "Yes", "Video": "Via public URL", "Audio": "No",
               "File": "Yes", "Emoji": "Yes", "GIF": "—"}
"""The bot's columns (see the module's docstring)."""

ROW_OF = {kind: row for row, kinds in TABLE.items() for kind in kinds}
_customers = itertools.count(10)


def _customer(number: str) -> str:
    """A new customer per case, local to the number (a UK mobile for the UK long code)."""
    n = next(_customers)
    return f"+4474009001{n:02d}" if number == UK_LONG_CODE else f"+1201555{100 + n:04d}"


@dataclass
class Matrix:
    live: LiveDesk
    relay: Harness


@pytest_asyncio.fixture(loop_scope="module", scope="module",
                        params=["sqlite", "postgresql"])
async def matrix(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Matrix]:
    """One desk for the module per backend: the cases use customers of their own."""
    database = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        database = str(cluster.migrated_database())
    async with live_desk(tmp_path_factory.mktemp("matrix"), database) as live:
        http = live.ws_url.removesuffix("/ws").replace("ws://", "http://", 1)
        yield Matrix(live, Harness(live.relay, http, live.admin_token, live.agent_token))


def bot_cases(column: dict[str, str]) -> list[Any]:
    """(number kind, content kind, the column's word for its row) for every kind on each
    number: the parametrization of the bot's tests."""
    return [pytest.param(number_kind, kind, column[ROW_OF[kind]], id=f"{number_kind}-{kind}")
            for kind in KINDS for number_kind in NUMBERS]


def test_every_column_has_every_row_of_the_simulators_table() -> None:
    for column in (USER_TO_AGENT, AGENT_TO_USER, USER_TO_BOT, BOT_TO_USER):
        assert set(column) == set(TABLE)
    assert len(bot_cases(BOT_TO_USER)) == 2 * len(KINDS)
    assert {case.values[2] for case in bot_cases(BOT_TO_USER)} == {
        "Yes", "Via public URL", "No", "—"}


async def _message_event(agent: AgentClient, kind: str, **match: object) -> dict[str, Any]:
    while True:
        event = await agent.until("event", timeout=10)
        message = event["payload"].get("message", {})
        if event["kind"] == kind and all(message.get(k) == v for k, v in match.items()):
            return event


async def _command(agent: AgentClient, name: str, **args: Any) -> dict[str, Any]:
    """A command with an id of its own: the relay answers a repeated id (from this module's
    earlier connections) with the first answer, as it must for a retry."""
    return await agent.command(name, command_id=f"{name}-{uuid.uuid4().hex}", **args)


async def _ticket_for(matrix: Matrix, agent: AgentClient, customer: str, number: str) -> int:
    sent = await matrix.live.text("hi", from_=customer, to=number)
    created = await _message_event(agent, "ticket.created", twilio_sid=sent.sid)
    return int(created["ticket_id"])


async def _upload(agent: AgentClient, kind: str) -> list[dict[str, Any]]:
    chosen = sample(kind)
    uploaded = []
    for content_type, data in chosen.media:
        answer = await _command(agent, "upload_media", content_type=content_type,
                                     data=base64.b64encode(data).decode(),
                                     filename=chosen.filename)
        assert answer["type"] == "result", answer
        uploaded.append(answer["result"])
    return uploaded


# -- user → agent ---------------------------------------------------------------------------------
def _user_to_agent_cases() -> Iterator[Any]:
    """Every kind reaches the agent on the MMS number; on the SMS-only number the SMS
    channel carries text (plain or emoji), so those are the cases there."""
    for kind in KINDS:
        assert USER_TO_AGENT[ROW_OF[kind]] == "Yes"
        yield pytest.param("mms", kind, id=f"mms-{kind}")
        if not sample(kind).media:
            yield pytest.param("sms_only", kind, id=f"sms_only-{kind}")


@IN_THE_MODULES_LOOP
@pytest.mark.parametrize(("number_kind", "kind"), list(_user_to_agent_cases()))
async def test_user_to_agent(matrix: Matrix, number_kind: str, kind: str) -> None:
    """Yes: the customer's text arrives whole, its media kept by type and size, and the
    agent gets every file back byte for byte."""
    number, chosen = NUMBERS[number_kind], sample(kind)
    async with matrix.relay.agent() as agent:
        await agent.until("caught_up")
        sent = await matrix.live.sim.text_sample(_customer(number), number, kind)
        assert sent.status == 200, sent
        message = (await _message_event(agent, "ticket.created",
                                        twilio_sid=sent.sid))["payload"]["message"]
        assert message["body"] == chosen.body
        assert [(m["content_type"], m["size"]) for m in message["media"]] == [
            (content_type, len(data)) for content_type, data in chosen.media]
        for item, (_, data) in zip(message["media"], chosen.media, strict=True):
            fetched = await _command(agent, "fetch_media", sha256=item["sha256"])
            assert base64.b64decode(fetched["result"]["data"]) == data


# -- agent → user ---------------------------------------------------------------------------------
def _agent_to_user_cases() -> Iterator[Any]:
    for kind in KINDS:
        assert AGENT_TO_USER[ROW_OF[kind]] in ("Yes", "Via app")
        for number_kind in NUMBERS:
            yield pytest.param(number_kind, kind, id=f"{number_kind}-{kind}")


@IN_THE_MODULES_LOOP
@pytest.mark.parametrize(("number_kind", "kind"), list(_agent_to_user_cases()))
async def test_agent_to_user(matrix: Matrix, number_kind: str, kind: str) -> None:
    """MMS number: every kind is delivered, its files fetched by Twilio (the simulator)
    in their own types. SMS-only number: text and emoji go; any attachment is refused
    before Twilio, saying why, and nothing reaches Twilio."""
    number, chosen = NUMBERS[number_kind], sample(kind)
    customer = _customer(number)
    body = chosen.body or f"Here is the {ROW_OF[kind].lower()}"
    async with matrix.relay.agent() as agent:
        await agent.until("caught_up")
        ticket_id = await _ticket_for(matrix, agent, customer, number)
        media = await _upload(agent, kind)
        answer = await _command(agent, "reply", ticket_id=ticket_id, body=body, media=media)
        if number_kind == "sms_only" and chosen.media:
            assert (answer["type"], answer["code"]) == ("error", "refused"), answer
            assert "SMS-only" in answer["message"] and "attachment" in answer["message"]
            sent_to_twilio = [m for m in matrix.live.sim.messages if m.to == customer
                              and m.direction == "outbound-api"]
            assert sent_to_twilio == []
            return
        assert answer["type"] == "result", answer
        await _message_event(agent, "message.updated", id=answer["result"]["id"],
                             status="delivered")
    [outbound] = [m for m in matrix.live.sim.messages if m.to == customer
                  and m.direction == "outbound-api"]
    assert (outbound.from_, outbound.body) == (number, body)
    assert [(m.content_type, m.data) for m in outbound.media] == list(chosen.media)
    assert outbound.sid.startswith("MM" if chosen.media else "SM")


# -- user → bot and bot → user ------------------------------------------------------------------
def _flow(say: str) -> str:
    """A flow that answers the word "send" with ``say`` (a TOML value) and greets newcomers."""
    return ('greeting = "Hello from the bot"\n\n'
            '[[keywords]]\nwords = ["send"]\n'
            f"say = {say}\n")


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _number_id(agent: AgentClient, e164: str) -> int:
    numbers = (await _command(agent, "list_numbers"))["result"]
    return next(int(n["id"]) for n in numbers if n["e164"] == e164)


@asynccontextmanager
async def _bot_on(matrix: Matrix, number: str, source: str) -> AsyncIterator[dict[str, Any]]:
    """The flow saved and on for the block (the desk's other cases run without a bot); the
    relay's answer to the save is yielded, a refusal included."""
    async with matrix.relay.agent(matrix.relay.admin_token) as admin:
        await admin.until("welcome")
        number_id = await _number_id(admin, number)
        saved = await _command(admin, "save_bot_flow", number_id=number_id, source=source,
                               enabled=True)
        try:
            yield saved
        finally:
            if saved["type"] == "result":
                off = await _command(admin, "set_bot_enabled", number_id=number_id,
                                     enabled=False)
                assert off["type"] == "result", off


def _sent_to(matrix: Matrix, customer: str) -> list[Any]:
    return [m for m in matrix.live.sim.messages if m.to == customer
            and m.direction == "outbound-api"]


def _user_to_bot_cases() -> Iterator[Any]:
    """As to an agent: every kind on the MMS number, text and emoji on the SMS-only one."""
    for kind in KINDS:
        assert USER_TO_BOT[ROW_OF[kind]] == "Yes"
        yield pytest.param("mms", kind, id=f"mms-{kind}")
        if not sample(kind).media:
            yield pytest.param("sms_only", kind, id=f"sms_only-{kind}")


@IN_THE_MODULES_LOOP
@pytest.mark.parametrize(("number_kind", "kind"), list(_user_to_bot_cases()))
async def test_user_to_bot(matrix: Matrix, number_kind: str, kind: str) -> None:
    """Yes: whatever the customer sends a number whose bot is on is kept whole in the ticket
    (for the person who takes over), and the bot answers it."""
    number, chosen = NUMBERS[number_kind], sample(kind)
    customer = _customer(number)
    async with _bot_on(matrix, number, _flow('"unused"')) as saved, \
            matrix.relay.agent() as agent:
        assert saved["type"] == "result", saved
        await agent.until("caught_up")
        sent = await matrix.live.sim.text_sample(customer, number, kind)
        assert sent.status == 200, sent
        created = await _message_event(agent, "ticket.created", twilio_sid=sent.sid)
        message = created["payload"]["message"]
        assert message["body"] == chosen.body
        assert [(m["content_type"], m["size"]) for m in message["media"]] == [
            (content_type, len(data)) for content_type, data in chosen.media]
        greeting = await _message_event(agent, "message.created", by_bot=True,
                                        ticket_id=created["ticket_id"])
        assert greeting["payload"]["message"]["body"] == "Hello from the bot"
        await _message_event(agent, "message.updated", id=greeting["payload"]["message"]["id"],
                             status="delivered")
    assert [m.body for m in _sent_to(matrix, customer)] == ["Hello from the bot"]


async def _say_for(agent: AgentClient, kind: str, word: str) -> str:
    """The flow's answer (a TOML value) carrying a sample of ``kind`` as the column allows
    it: words for text, attachments for files, a public link for a video."""
    chosen = sample(kind)
    text = _toml_string(chosen.body or f"Here is the {ROW_OF[kind].lower()}")
    if not chosen.media:
        return text
    if word == "Via public URL":
        return f'{{ text = {text}, video_url = "https://cdn.example.com/how-to.mp4" }}'
    items = ", ".join(
        f'{{ sha256 = "{m["sha256"]}", content_type = "{m["content_type"]}",'
        f' filename = "{m.get("filename") or ""}", size = {m["size"]} }}'
        for m in await _upload(agent, kind))
    return f"{{ text = {text}, attachments = [{items}] }}"


@IN_THE_MODULES_LOOP
@pytest.mark.parametrize(("number_kind", "kind", "word"), bot_cases(BOT_TO_USER))
async def test_bot_to_user(matrix: Matrix, number_kind: str, kind: str, word: str) -> None:
    """Yes: text and emoji on both numbers, images and files on the MMS number (an SMS-only
    number's flow with attachments is refused on save, saying so). Via public URL: a video
    goes as a link in the text; as an attachment it is refused. No (audio) and — (GIF):
    refused on save with the table's reason. What is refused never reaches Twilio."""
    number, chosen = NUMBERS[number_kind], sample(kind)
    customer = _customer(number)
    async with matrix.relay.agent(matrix.relay.admin_token) as admin:
        await admin.until("caught_up")
        say = await _say_for(admin, kind, word)
    async with _bot_on(matrix, number, _flow(say)) as saved, matrix.relay.agent() as agent:
        refusal = saved.get("message", "")
        if word in ("No", "—"):
            assert saved["type"] == "error", saved
            assert ("audio" if word == "No" else "GIF") in refusal
            return
        if chosen.media and word == "Yes" and number_kind == "sms_only":
            assert saved["type"] == "error" and "SMS-only" in refusal, saved
            return
        assert saved["type"] == "result", saved
        await agent.until("caught_up")
        first = await matrix.live.sim.text(customer, number, "hi", [])
        await _message_event(agent, "ticket.created", twilio_sid=first.sid)
        sent = await matrix.live.sim.text(customer, number, "please send it", [])
        assert sent.status == 200, sent
        while True:
            event = await _message_event(agent, "message.created", by_bot=True)
            if event["payload"]["message"]["body"] != "Hello from the bot":
                break
        answer = event["payload"]["message"]
        await _message_event(agent, "message.updated", id=answer["id"], status="delivered")
    outbound = [m for m in _sent_to(matrix, customer) if m.body != "Hello from the bot"]
    assert len(outbound) == 1
    if word == "Via public URL":
        assert outbound[0].body.endswith("\nhttps://cdn.example.com/how-to.mp4")
        assert outbound[0].media == []
    else:
        assert outbound[0].body == (chosen.body or f"Here is the {ROW_OF[kind].lower()}")
        assert [(m.content_type, m.data) for m in outbound[0].media] == list(chosen.media)
