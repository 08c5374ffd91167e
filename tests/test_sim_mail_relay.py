"""The mail stand-in against a real relay, on both backends: the relay's mail outbox
sends an agent's email through it, the customer's answer (quoted, signed, with an
attachment) comes back over SMTP to the relay's listener and lands in the same
ticket, and mail to a mailbox that does not exist bounces into "undelivered"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from relay_harness import Harness, seed

from core import queries, writes
from core.db import Locator
from core.email_settings import EmailSettings, save_email_settings
from core.email_writes import queue_email_reply
from core.mail_compose import subject_for
from core.models import Channel, Direction, Message, MessageStatus
from core.store import Store
from server.config import Paths
from server.mail_inbound import MailListener
from server.relay import bound_port, running_relay
from server.simulator.mail_replies import Attachment, MailCustomer, Reply
from server.simulator.mailbox import Mailbox

DOMAIN = "support.example.com"
ANN = MailCustomer("ann@example.org", "Ann Lee",
                   replies=(Reply("The scanner part works, the printer still jams.",
                                  attachments=(Attachment("jam.txt", "text/plain",
                                                          b"error 0x41\n"),)),),
                   signature="Ann Lee\nLee & Co")
GHOST = MailCustomer("ghost@example.net", "Nobody", exists=False)


@dataclass
class World:
    harness: Harness
    mailbox: Mailbox
    agent_id: int

    @property
    def store(self) -> Store:
        return self.harness.relay.store


@pytest.fixture
async def world(tmp_path: Path, locator: Locator,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """A seeded relay (SQLite or PostgreSQL: conftest's locator) whose email goes through
    the stand-in, which routes the desk's domain to the relay's listener."""
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")  # texts stay queued
    mailbox = Mailbox([ANN, GHOST], reply_delay=0.05, folder=tmp_path / "mail")
    host, port = await mailbox.start("127.0.0.1", 0)
    paths = Paths(tmp_path / "home", None if isinstance(locator, Path) else str(locator))
    admin, agent = await seed(paths.store)
    async with await Store.open(paths.store) as store:
        await store.write(save_email_settings, EmailSettings(
            smtp_host=host, smtp_port=port, smtp_security="none",
            from_address=f"support@{DOMAIN}", from_name="Acme Help", reply_domain=DOMAIN))
        agent_id = (await store.read(queries.agents))[0].id
    heard: list[MailListener] = []
    try:
        async with running_relay(paths, public_url="https://relay.example.test",
                                 host="127.0.0.1", port=0, mail_port=0,
                                 on_mail=heard.append) as (relay, server):
            mailbox.route(DOMAIN, *heard[0].address)
            harness = Harness(relay, f"http://127.0.0.1:{bound_port(server)}", admin, agent)
            yield World(harness, mailbox, agent_id)
            await mailbox.stop()  # before the relay: no reply hits a listener going away
    finally:
        await mailbox.stop()


async def ticket_with_email(world: World, address: str, text: str) -> int:
    status, _ = await world.harness.text(text)
    assert status == 200
    ticket = (await world.store.read(queries.list_tickets)).items[0].ticket
    await world.store.write(writes.update_contact, ticket.contact_id, email=address)
    return ticket.id


async def email(world: World, ticket_id: int, body: str) -> int:
    ticket = await world.store.read(queries.ticket, ticket_id)
    assert ticket is not None
    queued = await world.store.write(queue_email_reply, ticket_id=ticket_id,
                                     agent_id=world.agent_id, body=body,
                                     subject=subject_for(ticket_id, ticket.subject),
                                     reply_domain=DOMAIN)
    return queued.id


async def messages_until(world: World, ticket_id: int, done, timeout: float = 20.0
                         ) -> list[Message]:
    deadline = time.monotonic() + timeout
    while True:
        page = await world.store.read(queries.thread, ticket_id)
        found = [m for m in page.items if isinstance(m, Message)]
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_the_customer_answers_into_the_same_ticket(world: World) -> None:
    ticket_id = await ticket_with_email(world, ANN.address, "My printer jams")
    sent_id = await email(world, ticket_id, "Hi Ann,\nplease try the scanner part first.")
    found = await messages_until(world, ticket_id, lambda ms: any(
        m.channel is Channel.EMAIL and m.direction is Direction.INBOUND for m in ms))
    sent = next(m for m in found if m.id == sent_id)
    assert sent.status is MessageStatus.SENT
    assert sent.mail_detail is not None and "queued as SIM" in sent.mail_detail
    [answer] = [m for m in found
                if m.channel is Channel.EMAIL and m.direction is Direction.INBOUND]
    assert answer.body == ANN.replies[0].body  # the quote and the signature are gone
    assert [(m.filename, m.content_type) for m in answer.media] == [("jam.txt", "text/plain")]
    assert answer.mail_original is not None
    [mail] = world.mailbox.mailbox(ANN.address)
    assert mail.message["Message-ID"] == sent.mail_id
    [reply] = world.mailbox.sent
    assert reply.to == str(mail.message["Reply-To"])  # the token address, by the relay
    assert reply.said.startswith("2.0.0 stored as message")


async def test_mail_to_a_missing_mailbox_bounces_into_undelivered(world: World) -> None:
    ticket_id = await ticket_with_email(world, GHOST.address, "Hello?")
    sent_id = await email(world, ticket_id, "Hi, which address should we use?")
    found = await messages_until(world, ticket_id, lambda ms: any(
        m.id == sent_id and m.status is MessageStatus.UNDELIVERED for m in ms))
    bounced = next(m for m in found if m.id == sent_id)
    assert bounced.status is MessageStatus.UNDELIVERED
    assert bounced.mail_detail is not None and "User unknown" in bounced.mail_detail
    [report] = world.mailbox.sent
    assert (report.kind, report.mail_from) == ("bounce", "")
    assert report.to == f"support+bounces@{DOMAIN}"  # the relay's return path
    assert not [m for m in found if m.direction is Direction.INBOUND
                and m.channel is Channel.EMAIL]  # a bounce is no customer's message
