"""``smsdesk demo`` with email: a fresh home starts with the desk's email set up on the
mail stand-in, and the whole switch runs over real SMTP on loopback: the desk's mail
goes out through the stand-in, customers' replies come back into the same ticket
(stripped of quotes and signature, attachments kept), a bounce marks the mail
undelivered, a customer's first mail opens a ticket, and an agent's email reply is
answered live."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from relay_harness import AgentClient

from server.demo import (
    MAIL_DOMAIN,
    MAIL_TIMELINE,
    SUPPORT_ADDRESS,
    DemoBackend,
    start_backend,
)
from server.simulator.mail_customers import JORDAN, LENA, MAYA, TOM
from server.simulator.mail_replies import parsed

FAST = 100.0  # customers answer mail in 0.04 s, Lena writes 0.45 s after READY
DEADLINE = 20.0


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBackend]:
    """One demo for the module: each test looks at tickets the others leave alone."""
    started = start_backend(tmp_path_factory.mktemp("mail") / "demo", speed=FAST)
    yield started
    assert started.stop() == 0


async def _admin(backend: DemoBackend, socket_: Any) -> AgentClient:
    agent = AgentClient(socket_)
    await agent.send({"type": "hello", "version": 1, "token": backend.token, "last_seq": 0})
    await agent.until("welcome")
    await agent.until("caught_up")
    return agent


async def _threads(agent: AgentClient) -> dict[str, list[dict[str, Any]]]:
    """Every ticket's messages, by the contact's name (or number when unnamed)."""
    found: dict[str, list[dict[str, Any]]] = {}
    tickets = (await agent.command("list_tickets", limit=50))["result"]["items"]
    for ticket in tickets:
        thread = await agent.command("get_thread", ticket_id=ticket["ticket"]["id"])
        name = ticket["contact_name"] or ticket["ticket"]["customer_phone"]
        found.setdefault(name, []).extend(
            item for item in thread["result"]["items"] if "direction" in item)
    return found


def _emails(messages: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["channel"] == "email" and m["direction"] == direction]


async def _until(agent: AgentClient, done: Any) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + DEADLINE
    while True:
        threads = await _threads(agent)
        if done(threads) or time.monotonic() > deadline:
            return threads


def _ticket_of(tickets: list[dict[str, Any]], name: str) -> int:
    return next(t["ticket"]["id"] for t in tickets if t["contact_name"] == name)


async def test_the_demo_starts_with_email_on_the_mail_stand_in(backend: DemoBackend) -> None:
    assert backend.mail_url.startswith("smtp://127.0.0.1:")
    async with websockets.connect(backend.url) as socket_:
        agent = await _admin(backend, socket_)
        settings = (await agent.command("get_email_settings"))["result"]
    assert settings["enabled"]
    assert (settings["smtp_host"], settings["smtp_port"], settings["smtp_security"]) == (
        "127.0.0.1", int(backend.mail_url.rpartition(":")[2]), "none")
    assert (settings["from_address"], settings["reply_domain"]) == (SUPPORT_ADDRESS,
                                                                   MAIL_DOMAIN)
    assert settings["inbound_port"] > 0 and not settings["smtp_password_set"]
    assert "reply_secret" not in settings


async def test_email_goes_out_and_comes_back_into_the_same_tickets(
        backend: DemoBackend) -> None:
    def settled(threads: dict[str, list[dict[str, Any]]]) -> bool:
        maya, jordan = threads.get("Maya Patel", []), threads.get("Jordan Lee", [])
        return (bool(_emails(maya, "inbound"))
                and any(m["status"] == "undelivered" for m in _emails(jordan, "outbound"))
                and bool(_emails(threads.get("Lena Fischer", []), "inbound")))

    async with websockets.connect(backend.url) as socket_:
        agent = await _admin(backend, socket_)
        threads = await _until(agent, settled)

    # Maya: SMS, then the agent's email (accepted by the stand-in), then her answer.
    maya = threads["Maya Patel"]
    assert {"sms", "email"} <= {m["channel"] for m in maya}
    [sent] = _emails(maya, "outbound")
    assert sent["status"] == "sent" and "queued as SIM" in sent["mail_detail"]
    assert sent["subject"].startswith("Re: [#")
    [answer] = _emails(maya, "inbound")
    assert answer["body"] == MAYA.replies[0].body  # the quote and signature are stripped
    assert [m["content_type"] for m in answer["media"]] == ["image/png"]
    assert answer["mail_original"]  # the whole mail, one key away

    # Jordan: his mailbox does not exist; the stand-in's DSN marks the email bounced.
    [bounced] = _emails(threads["Jordan Lee"], "outbound")
    assert bounced["status"] == "undelivered"
    assert "User unknown" in bounced["mail_detail"]

    # Lena wrote first: a new contact and a ticket opened by email.
    [first] = _emails(threads["Lena Fischer"], "inbound")
    assert first["body"] == MAIL_TIMELINE[0].body
    assert first["subject"] == MAIL_TIMELINE[0].subject

    # Every mail the desk sent is in the stand-in's mailboxes, as it went out.
    [to_maya] = sorted((backend.mailboxes / MAYA.address).glob("*.eml"))
    mail = parsed(to_maya.read_bytes())
    assert mail["Message-ID"] == sent["mail_id"]
    assert mail["Reply-To"].addresses[0].domain == MAIL_DOMAIN
    assert list((backend.mailboxes / JORDAN.address).glob("*.eml"))


async def test_an_agent_switches_to_email_and_the_customer_answers_live(
        backend: DemoBackend) -> None:
    async with websockets.connect(backend.url) as socket_:
        agent = await _admin(backend, socket_)
        tickets = (await agent.command("list_tickets", limit=50))["result"]["items"]
        tom = _ticket_of(tickets, "Tom Hughes")
        answer = await agent.command("reply", ticket_id=tom, channel="email",
                                     body="Hi Tom,\n\nthe map is attached to our website.")
        assert answer["type"] == "result", answer
        assert answer["result"]["channel"] == "email"
        threads = await _until(agent, lambda found: bool(
            _emails(found.get("Tom Hughes", []), "inbound")))
        [reply] = _emails(threads["Tom Hughes"], "inbound")
        assert reply["body"] == TOM.replies[0].body
        assert reply["ticket_id"] == tom  # the same ticket, by its reply address

        # Priya has no email address: the relay refuses, saying why.
        priya = _ticket_of(tickets, "Priya Raman")
        refused = await agent.command("reply", ticket_id=priya, channel="email", body="Hi")
        assert refused["type"] == "error"
        assert "no email address" in refused["message"]
    assert [path.name for path in (backend.mailboxes / TOM.address).glob("*.eml")]
    assert LENA.address not in {p.name for p in backend.mailboxes.iterdir()}  # nothing yet
