"""The demo's UK number runs a bot: a newcomer sees it greet, route, ask and hand off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from relay_harness import AgentClient

from core.bot_flow import parse_flow
from server.demo import EMMA, DemoBackend, start_backend
from server.demo_bot import UK_FLOW

FAST = 100.0


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DemoBackend]:
    started = start_backend(tmp_path / "demo", speed=FAST)
    try:
        yield started
    finally:
        started.stop()


async def _thread_of(agent: AgentClient,
                     phone: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The customer's newest ticket and its thread (empty while they have not texted yet)."""
    tickets = (await agent.command("list_tickets", limit=50))["result"]["items"]
    row = next((t for t in tickets if t["ticket"]["customer_phone"] == phone), None)
    if row is None:
        return {"custom_fields": {}}, []
    thread = await agent.command("get_thread", ticket_id=row["ticket"]["id"])
    return row["ticket"], thread["result"]["items"]


async def test_emma_walks_the_uk_bot_menu_question_and_hand_off(backend: DemoBackend) -> None:
    async with websockets.connect(backend.url) as socket_:
        agent = AgentClient(socket_)
        await agent.send({"type": "hello", "version": 1, "token": backend.token, "last_seq": 0})
        await agent.until("caught_up", timeout=10)
        deadline = time.monotonic() + 15
        bot: list[str] = []
        while time.monotonic() < deadline:
            ticket, thread = await _thread_of(agent, EMMA)
            bot = [m["body"] for m in thread if m.get("by_bot")]
            if ticket["custom_fields"].get("order_number") and len(bot) >= 5:
                break
            await asyncio.sleep(0.2)
        groups = {g["id"]: g["name"] for g in (await agent.command("list_groups"))["result"]}
    assert bot[0] == "Hi, you've reached Demo Shop UK 👋"
    assert any(b.startswith("Reply 1 for an order") for b in bot)
    assert "What's your order number? It looks like #4417." in bot
    assert "Thanks! Order #4452 noted." in bot
    assert bot[-1].startswith("Thanks! A person from our team will text you")
    assert ticket["custom_fields"]["order_number"] == "#4452"
    assert groups[ticket["group_id"]] == "Shipping"
    assert ticket["status"] == "open" and ticket["unread"]


async def test_sam_takes_tom_over_from_the_bot(backend: DemoBackend) -> None:
    async with websockets.connect(backend.url) as socket_:
        agent = AgentClient(socket_)
        await agent.send({"type": "hello", "version": 1, "token": backend.token, "last_seq": 0})
        await agent.until("caught_up", timeout=10)
        deadline = time.monotonic() + 10
        thread: list[dict[str, Any]] = []
        while time.monotonic() < deadline:  # until Tom's timeline text (the word "parking")
            _, thread = await _thread_of(agent, "+447400900123")
            if any("parking" in m["body"] for m in thread):
                break
            await asyncio.sleep(0.2)
    outbound = [m for m in thread if m.get("direction") == "outbound"]
    by_bot = [m["body"] for m in outbound if m["by_bot"]]
    assert by_bot[0] == "Hi, you've reached Demo Shop UK 👋"
    assert any("Sat 10:00-16:00" in b for b in by_bot)  # the keyword "opening hours"
    sam = next(m for m in outbound if m["author_agent_id"] is not None)
    parking = next(m for m in thread if "parking" in m["body"])
    assert parking["id"] > sam["id"]
    # Sam has the ticket: the bot's "parking" keyword answer never comes.
    assert not [m for m in outbound if m["by_bot"] and m["id"] > sam["id"]]


def test_the_demo_flow_is_a_valid_flow_file() -> None:
    flow = parse_flow(UK_FLOW)
    assert flow.start == "main" and "order" in flow.questions
