"""The composer's email switch end to end (issue 12): a real relay, a real SMTP server on
loopback (aiosmtpd), the inbox driven by keys: a reply by email lands at the mail server with
its subject, the thread says "accepted by the mail server", and the next reply, switched
back, goes by SMS from the ticket's number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from mail_server import mail_server
from textual.widgets import TextArea

from core import queries
from tui.app import InboxApp
from tui.screens.inbox import InboxScreen

SIZE = (130, 40)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


def thread_entries(app: InboxApp) -> list[dict[str, Any]]:
    screen = app.screen
    assert isinstance(screen, InboxScreen)
    return screen.thread.entries


async def test_reply_by_email_then_back_to_sms_on_one_ticket(desk: LiveDesk) -> None:
    with mail_server() as server:
        app = InboxApp(desk.config())
        async with app.run_test(size=SIZE) as pilot:
            inbox = app.screen
            assert isinstance(inbox, InboxScreen)
            await until(pilot, lambda: inbox.live_once, what="connected")
            settings = {"smtp_host": "127.0.0.1", "smtp_port": server.port,
                        "smtp_security": "none", "from_address": "help@example.com",
                        "from_name": "Acme Help", "reply_domain": "support.example.com"}
            await inbox.client.command("save_email_settings", changes=settings)
            await until(pilot, lambda: inbox.email_channel.enabled is True,
                        what="the settings event")
            await desk.text("Where is my order?")
            await until(pilot, lambda: inbox.tickets.current() is not None, what="the ticket")
            ticket = inbox.tickets.current()["ticket"]  # type: ignore[index]
            await inbox.client.command("update_contact", contact_id=ticket["contact_id"],
                                       email="jo@example.com")
            await pilot.press("enter")
            await until(pilot, lambda: inbox.composer.context is not None
                        and inbox.composer.context.contact_email == "jo@example.com",
                        what="the contact's address")
            await pilot.press("r", "ctrl+l")
            composer = inbox.composer
            assert composer.channel == "email"  # offered: a valid address, email set up
            subject = f"Re: [#{ticket['id']}] Where is my order?"  # the ticket's subject
            assert composer.subject == subject
            composer.query_one("#composer-text", TextArea).insert("It left today.")
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any(e.get("channel") == "email"
                                           and e.get("status") == "sent"
                                           for e in thread_entries(app)),
                        what="accepted by the mail server", timeout=20)
            (received,) = server.handler.received
            assert received.rcpt_tos == ["jo@example.com"]
            assert received.message["Subject"] == subject
            # Back to SMS: the next reply goes by text from the ticket's number.
            assert composer.channel == "email"  # the agent's choice holds for the next reply
            await pilot.press("r", "ctrl+l")
            assert composer.channel == "sms"
            composer.query_one("#composer-text", TextArea).insert("Texting you too.")
            await pilot.pause()
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any(e.get("channel") == "sms"
                                           and e.get("direction") == "outbound"
                                           for e in thread_entries(app)),
                        what="the text", timeout=20)
            page = await desk.relay.store.read(queries.thread, ticket["id"])
            replies = [(m.channel.value, m.body) for m in page.items
                       if getattr(m, "direction", None) is not None
                       and m.direction.value == "outbound"]
            assert replies == [("email", "It left today."), ("sms", "Texting you too.")]
