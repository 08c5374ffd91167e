"""New conversations (c) and the From picker (ctrl+f) in a real inbox, against a real relay
and the Twilio simulator on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk, until

from core import queries, writes
from tui.app import InboxApp
from tui.screens.from_picker import FromPicker
from tui.screens.new_conversation import NewConversationScreen
from tui.widgets.composer import Composer
from tui.widgets.thread_view import ThreadView

SIZE = (150, 44)
UK_MOBILE = "+447400123456"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        numbers = await running.relay.store.read(queries.numbers)
        toll_free = next(n for n in numbers if n.e164 == US_TOLL_FREE)
        await running.relay.store.write(writes.update_number, toll_free.id,
                                        default_group_id=running.billing_id)
        yield running


def _sent(desk: LiveDesk, body: str) -> list[tuple[str, str]]:
    """(to, from) of each message the simulator took with this body."""
    return [(m.to, m.from_) for m in desk.sim.messages if m.body == body
            and m.direction != "inbound"]


async def test_a_new_conversation_goes_out_and_the_customer_answer_threads_into_it(
        desk: LiveDesk) -> None:
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.names.numbers, "the numbers")
        await pilot.press("c")
        screen = await until(pilot, lambda: isinstance(app.screen, NewConversationScreen)
                             and app.screen, "the new conversation screen")
        await pilot.press(*"(201) 555-0123")
        await until(pilot, lambda: screen.to == "+12015550123", "the number understood")
        understood = str(screen.query_one("#nc-understood").render())
        assert "+12015550123" in understood and "United States" in understood
        assert screen.sender is not None and screen.sender.context.number.e164 == US_TOLL_FREE
        await pilot.press("enter", *"Your parcel is here", "ctrl+s")
        await until(pilot, lambda: _sent(desk, "Your parcel is here"), "sent", timeout=10)
        assert _sent(desk, "Your parcel is here") == [("+12015550123", US_TOLL_FREE)]
        tickets = (await desk.relay.store.read(queries.list_tickets)).items
        assert len(tickets) == 1 and tickets[0].ticket.group_id == desk.billing_id
        await desk.text("Thanks, picking it up", from_="+12015550123")
        thread = await desk.relay.store.read(queries.thread, tickets[0].ticket.id)
        assert [m.body for m in thread.items] == ["Your parcel is here", "Thanks, picking it up"]
        await until(pilot, lambda: inbox.model.total == 1, "one ticket in the list")


async def test_a_new_conversation_refuses_what_the_sender_cannot_send(desk: LiveDesk) -> None:
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.inbox.names.numbers, "the numbers")
        await pilot.press("c")
        screen = await until(pilot, lambda: isinstance(app.screen, NewConversationScreen)
                             and app.screen, "the new conversation screen")
        await pilot.press(*"12", "enter", *"hello", "ctrl+s")
        assert "not a valid phone number" in str(screen.query_one("#nc-understood").render())
        assert app.screen is screen  # nothing sent, the screen stays
    assert await desk.relay.store.read(queries.count_tickets) == 0


async def test_a_reply_from_another_number_chosen_in_the_from_picker(desk: LiveDesk) -> None:
    await desk.text("Hello from London", from_=UK_MOBILE)
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0), "a row")
        await pilot.press("enter")
        composer = inbox.query_one(Composer)
        await until(pilot, lambda: composer.context is not None, "the composer")
        await pilot.press("r", "ctrl+f")
        picker = await until(pilot, lambda: isinstance(app.screen, FromPicker) and app.screen,
                             "the From picker")
        verdicts = {v.context.number.e164: v for v in picker.verdicts}
        assert set(verdicts) == {US_TOLL_FREE, UK_LONG_CODE}
        assert verdicts[US_TOLL_FREE].suggested  # the number the customer texted
        await pilot.press(*"900456", "enter")  # the UK long code
        await until(pilot, lambda: composer.context is not None
                    and composer.context.number.e164 == UK_LONG_CODE, "the chosen sender")
        assert UK_LONG_CODE in str(composer.border_title)
        await pilot.press(*"Hi from our UK line", "ctrl+s")
        await until(pilot, lambda: _sent(desk, "Hi from our UK line"), "sent", timeout=10)
        assert _sent(desk, "Hi from our UK line") == [(UK_MOBILE, UK_LONG_CODE)]
        thread = inbox.query_one(ThreadView)
        await until(pilot, lambda: any(e.get("from_number_id") for e in thread.entries),
                    "the reply in the thread")
        await pilot.pause()
        assert any(f"from {UK_LONG_CODE}" in line for line in _visible_lines(thread))


def _visible_lines(thread: ThreadView) -> list[str]:
    return ["".join(segment.text for segment in thread.render_line(y))
            for y in range(thread.size.height)]


async def test_a_new_conversation_with_a_customer_who_opted_out_is_refused_before_sending(
        desk: LiveDesk) -> None:
    """Typed by name, a known customer is found; their STOP to the toll-free number is known,
    so that number may not text them (Twilio blocks the number the STOP was sent to)."""
    await desk.text("STOP", from_="+12015550123")
    store = desk.relay.store
    contact = next(iter((await store.read(queries.list_tickets)).items))
    await store.write(writes.update_contact, contact.ticket.contact_id, name="Kim Park")
    app = InboxApp(desk.config(admin=False, data_dir=desk.home), backoff=(30,))
    async with app.run_test(size=SIZE) as pilot:
        inbox = app.inbox
        await until(pilot, lambda: inbox.model.total == 1 and inbox.model.row(0)
                    and inbox.model.row(0).get("contact_name") == "Kim Park", "Kim's ticket")
        await pilot.press("c")
        screen = await until(pilot, lambda: isinstance(app.screen, NewConversationScreen)
                             and app.screen, "the new conversation screen")
        await pilot.press(*"kim", "enter", *"Hello again")
        await until(pilot, lambda: screen.to == "+12015550123", "Kim's number")
        assert "Kim Park" in str(screen.query_one("#nc-understood").render())
        verdicts = {v.context.number.e164: v for v in screen._verdicts}
        assert 21610 in [r.code for r in verdicts[US_TOLL_FREE].refusals]
        assert 21610 not in [r.code for r in verdicts[UK_LONG_CODE].refusals]
        assert screen.sender is not None and screen.sender.context.number.e164 != US_TOLL_FREE
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FromPicker), "the From picker")
        await pilot.press(*"550100", "enter")  # the toll-free number, which got the STOP
        await until(pilot, lambda: screen.sender is not None
                    and screen.sender.context.number.e164 == US_TOLL_FREE, "the STOPped line")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert app.screen is screen
    assert await store.read(queries.count_tickets) == 1
