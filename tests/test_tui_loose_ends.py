"""Issue 10's loose ends in the inbox, as an agent meets them against a real relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk, until
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets._toast import Toast

from core import queries
from core.models import now_ms
from tui.app import InboxApp
from tui.client import CommandError, RelayClient
from tui.drafts import KeptDraft, drafts_path, keep_drafts, load_drafts
from tui.model import TRASH
from tui.screens.from_picker import FromPicker
from tui.screens.new_conversation import NewConversationScreen
from tui.screens.pickers import ChoiceScreen
from tui.screens.quit import QuitScreen
from tui.widgets import render
from tui.widgets.composer import AttachFile, Composer
from tui.widgets.send_review import SendReview
from tui.widgets.ticket_list import TicketList
from tui.widgets.ticket_title import TicketTitle

DAY = 86_400_000
SIZE = (150, 44)
UK_MOBILE = "+447400123456"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def rows(pilot: Pilot[Any], app: InboxApp, count: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == count
                and all(app.inbox.model.row(i) for i in range(count)), what=f"{count} rows")


def covered_by_toasts(app: InboxApp, widget: Widget) -> bool:
    """Whether a toast shows over any cell of ``widget`` (what the agent sees, clipping
    and layers included)."""
    region = widget.region
    return any(isinstance(app.screen.get_widget_at(x, y)[0], Toast)
               for x in range(region.x, region.right) for y in range(region.y, region.bottom))


async def test_toasts_cover_neither_the_ticket_list_nor_the_composer(desk: LiveDesk) -> None:
    """They go over the thread, between the two: at the top right they hid the list's
    status column, at the bottom the composer's reasons a reply cannot go."""
    await desk.text("Where is my parcel?")
    for size in ((120, 36), (80, 24)):
        app = InboxApp(desk.config())
        async with app.run_test(size=size, notifications=True) as pilot:
            await rows(pilot, app, 1)
            await pilot.press("enter", "r", *"Hi")
            composer = app.inbox.composer
            await until(pilot, lambda app=app: app.inbox.composer.context is not None,
                        what="the composer")
            for n in range(3):
                app.notify(f"toast {n}\nwith a second line", timeout=30)
            await until(pilot, lambda app=app: len(app.screen.query(Toast)) == 3,
                        what="the toasts")
            await pilot.pause(0.1)
            assert covered_by_toasts(app, app.inbox.thread), size  # shown, over the thread
            assert not covered_by_toasts(app, app.inbox.tickets), size
            assert not covered_by_toasts(app, composer), size


def list_text(app: InboxApp) -> str:
    """The ticket list's header and first rows as the agent reads them."""
    listed = app.inbox.query_one(TicketList)
    width = listed.size.width
    return "\n".join(listed.render_line(y).text for y in range(3)).replace(" " * 2, " ")[:2 * width]


async def test_the_trash_says_who_deleted_each_ticket_when_and_when_it_will_be_purged(
        desk: LiveDesk) -> None:
    await desk.text("Cancel my order please", from_="+12025550101")
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=(120, 36)) as ada_pilot, \
            bo.run_test(size=(80, 24)) as bo_pilot:
        await rows(ada_pilot, ada, 1)
        await rows(bo_pilot, bo, 1)
        await ada.inbox.command("set_trash_retention", days=30)
        for app, pilot in ((ada, ada_pilot), (bo, bo_pilot)):
            await app.inbox.switch_view(TRASH)
            await until(pilot, lambda app=app: app.inbox.model.view == TRASH, what="the Trash")
        render.clock = lambda: now_ms() + 2 * DAY
        try:
            await bo_pilot.press("v", *"Open", "enter")  # Bo deletes it from his list
            await until(bo_pilot, lambda: bo.inbox.model.total == 1, what="Bo's open view")
            await bo_pilot.press("number_sign", "y")
            await until(ada_pilot, lambda: ada.inbox.model.total == 1
                        and ada.inbox.model.row(0), what="the ticket in Ada's Trash")
            ada.inbox.tickets.refresh_rows()
            await ada_pilot.pause()
            shown = list_text(ada)
            deleted_at = ada.inbox.model.row(0)["ticket"]["deleted_at"]
            purge_day = render.due(deleted_at + 30 * DAY)
            assert "Deleted" in shown and "By" in shown and "Purge" in shown
            assert "2d" in shown and "Bo" in shown and purge_day in shown, shown
            # An admin changes the retention: every open Trash shows the new date at once.
            await ada.inbox.command("set_trash_retention", days=3)
            await bo_pilot.press("v", *"Trash", "enter")
            await until(bo_pilot, lambda: bo.inbox.model.total == 1 and bo.inbox.model.row(0)
                        and bo.inbox.names.trash_retention_days == 3, what="Bo's Trash")
            await bo_pilot.pause()
            assert render.due(deleted_at + 3 * DAY) in list_text(bo)
            await ada.inbox.command("set_trash_retention", days=None)
            await until(bo_pilot, lambda: "kept" in list_text(bo), what="kept until emptied")
        finally:
            render.clock = now_ms


def test_a_kept_draft_remembers_its_sender_and_a_bad_one_is_read_as_none(
        tmp_path: Path) -> None:
    path = drafts_path(tmp_path)
    keep_drafts(path, [KeptDraft(7, "reply", "from the UK line", "send-1", 2),
                       KeptDraft(8, "note", "a note", "", None)])
    assert [(d.ticket_id, d.command_id, d.from_number_id) for d in load_drafts(path)] == [
        (7, "send-1", 2), (8, "", None)]
    path.write_text('[{"ticket_id": 7, "mode": "reply", "body": "x", "from_number_id": "2"},'
                    ' {"ticket_id": 8, "mode": "reply", "body": "y", "from_number_id": true}]')
    assert [d.from_number_id for d in load_drafts(path)] == [None, None]


async def test_a_kept_reply_comes_back_with_the_number_it_was_written_for(
        desk: LiveDesk) -> None:
    await desk.text("Hello from London", from_=UK_MOBILE)
    uk = next(n for n in await desk.relay.store.read(queries.numbers)
              if n.e164 == UK_LONG_CODE)
    app = InboxApp(desk.config(data_dir=desk.home))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.context is not None, what="the composer")
        await pilot.press("r", "ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FromPicker), what="the From picker")
        await pilot.press(*"900456", "enter")
        await until(pilot, lambda: composer.context is not None
                    and composer.context.number.e164 == UK_LONG_CODE, what="the UK line")
        await pilot.press(*"Cheers from our UK line", "escape", "ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), what="the question")
        await pilot.press("d")
    kept = load_drafts(drafts_path(desk.home))
    assert [(d.body, d.from_number_id) for d in kept] == [("Cheers from our UK line", uk.id)]

    again = InboxApp(desk.config(data_dir=desk.home))
    async with again.run_test(size=SIZE) as pilot:
        await rows(pilot, again, 1)
        await pilot.press("enter")
        composer = again.inbox.query_one(Composer)
        await until(pilot, lambda: composer.text == "Cheers from our UK line"
                    and composer.context is not None
                    and composer.context.number.e164 == UK_LONG_CODE, what="draft and sender")
        assert UK_LONG_CODE in str(composer.border_title)
        await pilot.press("r", "ctrl+s")
        await until(pilot, lambda: _sent(desk, "Cheers from our UK line"), what="sent",
                    timeout=10)
    assert _sent(desk, "Cheers from our UK line") == [(UK_MOBILE, UK_LONG_CODE)]


async def test_a_kept_reply_on_its_way_goes_again_under_its_id_from_its_number(
        desk: LiveDesk) -> None:
    """It never reached the relay: sent again, under the same id, from the chosen number."""
    await desk.text("Hello from London", from_=UK_MOBILE)
    store = desk.relay.store
    ticket_id = (await store.read(queries.list_tickets)).items[0].ticket.id
    uk = next(n for n in await store.read(queries.numbers) if n.e164 == UK_LONG_CODE)
    keep_drafts(drafts_path(desk.home), [KeptDraft(ticket_id, "reply", "On its way to you",
                                                   "send-kept-1", uk.id)])
    app = InboxApp(desk.config(data_dir=desk.home))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.text == "On its way to you", what="the draft")
        await pilot.press("r", "ctrl+s")
        await until(pilot, lambda: _sent(desk, "On its way to you"), what="sent", timeout=10)
    assert _sent(desk, "On its way to you") == [(UK_MOBILE, UK_LONG_CODE)]
    remembered = await store.read(lambda conn: conn.execute(
        "SELECT count(*) FROM command_results WHERE command_id = 'send-kept-1'").fetchone()[0])
    assert remembered == 1


def _sent(desk: LiveDesk, body: str) -> list[tuple[str, str]]:
    """(to, from) of each message the simulator took with this body."""
    return [(m.to, m.from_) for m in desk.sim.messages if m.body == body
            and m.direction != "inbound"]


async def test_retrying_a_failed_reply_shows_the_send_review_with_its_number_first(
        desk: LiveDesk) -> None:
    unreachable = "+13125550164"
    await desk.text("Did you get my address?", from_=unreachable)
    desk.sim.state.knobs.fail_to[unreachable] = 30003
    app = InboxApp(desk.config(send_review=True))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter", "r", *"Yes, thanks", "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SendReview), what="the first review")
        await pilot.press("y")
        await until(pilot, lambda: app.inbox.model.row(0).get("last_reply_status")
                    == "undelivered", what="the failure in the list", timeout=10)
        desk.sim.state.knobs.fail_to.pop(unreachable)
        await pilot.press("h", "F")
        review = await until(pilot, lambda: isinstance(app.screen, SendReview) and app.screen,
                             what="the retry's review")
        title = str(review.query_one("#send-review-title").render())
        assert unreachable in title and f"from {US_TOLL_FREE}" in title
        assert "Yes, thanks" in str(review.query_one("#send-review-text").render())
        await pilot.press("n")  # not now: nothing goes
        await pilot.pause(0.2)
        assert _sent(desk, "Yes, thanks") == [(unreachable, US_TOLL_FREE)]
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.screen, SendReview), what="the review again")
        await pilot.press("e")  # change it first: a new reply from the same number
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.text == "Yes, thanks" and composer.has_focus_within,
                    what="the text in the composer")
        await pilot.press("escape", "h", "F")
        await until(pilot, lambda: isinstance(app.screen, SendReview), what="the review again")
        await pilot.press("y")
        await until(pilot, lambda: app.inbox.model.row(0).get("last_reply_status")
                    == "delivered", what="the retry delivered", timeout=10)
    assert _sent(desk, "Yes, thanks") == [(unreachable, US_TOLL_FREE)] * 2


def footer_actions(app: InboxApp) -> set[str]:
    from textual.widgets._footer import FooterKey
    return {key.action for key in app.screen.query(FooterKey)}


async def test_the_footers_retry_follows_the_cursor_onto_a_failed_reply_and_off_it(
        desk: LiveDesk) -> None:
    """R is offered where the highlighted ticket's newest reply failed, and only there:
    the footer is redrawn when that flips, not for every row that moves or loads."""
    unreachable = "+13125550164"
    await desk.text("Did you get my address?", from_=unreachable)
    await desk.text("Unrelated question", from_="+13125550165")
    desk.sim.state.knobs.fail_to[unreachable] = 30003
    app = InboxApp(desk.config(send_review=False))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 2)
        failing = next(i for i in range(2)
                       if app.inbox.model.row(i)["contact_phone"] == unreachable)
        await pilot.press(*["j"] * failing, "enter", "r", *"Yes", "ctrl+s")
        await until(pilot, lambda: app.inbox.model.row(
            app.inbox.model.index_of(app.inbox.open_row["ticket"]["id"]))
            .get("last_reply_status") == "undelivered", what="the failure", timeout=10)
        await pilot.press("h")
        tickets = app.inbox.query_one(TicketList)
        await until(pilot, lambda: "retry_failed" in footer_actions(app)
                    and tickets.current()["contact_phone"] == unreachable, what="R offered")
        await pilot.press("j" if tickets.cursor == 0 else "k")
        await until(pilot, lambda: "retry_failed" not in footer_actions(app),
                    what="R gone on the other ticket")
        await pilot.press("k" if tickets.cursor == 1 else "j")
        await until(pilot, lambda: "retry_failed" in footer_actions(app), what="F back")


def picker_lines(app: InboxApp) -> list[str]:
    options = app.screen.query_one("#picker-options", OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_another_agents_time_entry_is_view_only_and_totals_update_live(
        desk: LiveDesk) -> None:
    await desk.text("Invoice question")
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=SIZE) as ada_pilot, bo.run_test(size=SIZE) as bo_pilot:
        await rows(ada_pilot, ada, 1)
        await rows(bo_pilot, bo, 1)
        for pilot, app in ((ada_pilot, ada), (bo_pilot, bo)):
            await pilot.press("enter")
            await until(pilot, lambda app=app: app.inbox.thread_state
                        and app.inbox.thread_state.entries, what="the ticket open")
        ticket_id = bo.inbox.thread_state.ticket_id
        await ada.inbox.command("log_time", ticket_id=ticket_id, seconds=2700, note="call")
        title = bo.inbox.query_one(TicketTitle)
        await until(bo_pilot, lambda: "45m logged" in title.render().plain,
                    what="Ada's time in Bo's title")
        await bo.inbox.command("log_time", ticket_id=ticket_id, seconds=600, note="email")
        await until(ada_pilot, lambda: "55m logged" in
                    ada.inbox.query_one(TicketTitle).render().plain, what="Bo's, in Ada's")
        await bo_pilot.press("h", "L")
        await until(bo_pilot, lambda: isinstance(bo.screen, ChoiceScreen), what="the log")
        lines = picker_lines(bo)
        assert any("email" in line and "view only" not in line for line in lines), lines
        assert any("call" in line and "view only: Ada's" in line for line in lines), lines
        await bo_pilot.press("down", "down", "enter")  # Ada's (the older) entry
        await until(bo_pilot, lambda: any(n.title == "View only" for n in bo._notifications),
                    what="the view-only notice")
        assert not isinstance(bo.screen, ChoiceScreen)  # no actions offered
        entries = (await bo.inbox.command("ticket_time", ticket_id=ticket_id))["entries"]
        adas = next(e for e in entries if e["note"] == "call")
        with pytest.raises(CommandError, match="only its agent"):
            await bo.inbox.command("delete_time_entry", entry_id=adas["id"])
        with pytest.raises(CommandError, match="only its agent"):
            await bo.inbox.command("update_time_entry", entry_id=adas["id"], seconds=60)


async def test_a_new_conversation_carries_a_photo_and_an_sms_only_sender_refuses_it(
        desk: LiveDesk, tmp_path: Path) -> None:
    photo = tmp_path / "receipt.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.inbox.names.numbers, what="the numbers")
        await pilot.press("c")
        screen = await until(pilot, lambda: isinstance(app.screen, NewConversationScreen)
                             and app.screen, what="the new conversation screen")
        await pilot.press(*"(201) 555-0188", "enter", *"Your receipt", "ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, AttachFile), what="the file prompt")
        await pilot.press(*str(photo), "enter")
        await until(pilot, lambda: screen.attachments, what="the photo attached")
        assert "receipt.png (image/png" in str(screen.query_one("#nc-attachments").render())
        assert screen.sender is not None and screen.sender.context.number.e164 == US_TOLL_FREE
        uk = next(v for v in screen._verdicts if v.context.number.e164 == UK_LONG_CODE)
        assert any("SMS-only" in r.reason or "MMS" in r.reason for r in uk.refusals)
        await pilot.press("ctrl+f")  # the agent picks the UK line anyway
        await until(pilot, lambda: isinstance(app.screen, FromPicker), what="the From picker")
        await pilot.press(*"900456", "enter")
        await until(pilot, lambda: screen.sender is not None
                    and screen.sender.context.number.e164 == UK_LONG_CODE, what="the UK line")
        assert screen.sender.refusals  # said in the verdict, and sending is refused
        await pilot.press("ctrl+t")
        await until(pilot, lambda: any("SMS-only" in n.message for n in app._notifications),
                    what="attaching refused with the reason")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert app.screen is screen and not _sent(desk, "Your receipt")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FromPicker), what="the From picker")
        await pilot.press(*"550100", "enter")
        await until(pilot, lambda: screen.sender is not None and not screen.sender.refusals,
                    what="the toll-free line again")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: _sent(desk, "Your receipt"), what="sent", timeout=10)
    assert _sent(desk, "Your receipt") == [("+12015550188", US_TOLL_FREE)]
    sent = next(m for m in desk.sim.messages if m.body == "Your receipt")
    assert len(sent.media) == 1
    ticket = (await desk.relay.store.read(queries.list_tickets)).items[0].ticket
    thread = await desk.relay.store.read(queries.thread, ticket.id)
    assert [m.media[0].filename for m in thread.items] == ["receipt.png"]


async def test_a_stop_blocks_the_number_it_was_sent_to_in_the_picker_and_on_the_relay(
        desk: LiveDesk) -> None:
    customer = "+12025550123"
    await desk.text("Where is my parcel?", from_=customer)  # to the toll-free number
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.context is not None, what="the composer")
        await desk.text("STOP", from_=customer, to=UK_LONG_CODE)  # to the UK line only
        await until(pilot, lambda: (app.inbox.open_row or {}).get(
            "contact_opted_out_number_ids"), what="the STOP, live")
        ticket_id = app.inbox.open_row["ticket"]["id"]
        assert not app.inbox.open_row["contact_opted_out"]  # the ticket's own number may
        await pilot.press("r", *"On its way", "ctrl+f")
        picker = await until(pilot, lambda: isinstance(app.screen, FromPicker) and app.screen,
                             what="the From picker")
        verdicts = {v.context.number.e164: v for v in picker.verdicts}
        assert 21610 in [r.code for r in verdicts[UK_LONG_CODE].refusals]
        assert 21610 not in [r.code for r in verdicts[US_TOLL_FREE].refusals]
        assert verdicts[US_TOLL_FREE].suggested
        await pilot.press("escape")
        numbers = {n["e164"]: n["id"] for n in app.inbox.names.numbers.values()}
        with pytest.raises(CommandError, match=r"opted out|STOP|21610|unsubscribed"):
            await app.inbox.command("reply", ticket_id=ticket_id, body="From the UK line",
                                    from_number_id=numbers[UK_LONG_CODE])
        await app.inbox.command("reply", ticket_id=ticket_id, body="From the toll-free line")
        await until(pilot, lambda: _sent(desk, "From the toll-free line"), what="sent",
                    timeout=10)
    assert _sent(desk, "From the UK line") == []


@pytest.mark.parametrize("read", ["get_trash_retention", "my_timer", "ticket_time"])
async def test_reads_the_inbox_makes_on_its_own_are_no_work_that_quitting_asks_about(
        read: str) -> None:
    """The inbox loads the Trash retention, the timer and a ticket's time by itself: one
    still on its way when the agent quits is nothing the agent did."""
    client = RelayClient("ws://127.0.0.1:9/ws", "token")  # never connects: it stays queued
    asking = asyncio.create_task(client.command(read, ticket_id=1))
    await asyncio.sleep(0)
    assert client.unsent() == []
    asking.cancel()
    working = asyncio.create_task(client.command("log_time", ticket_id=1, seconds=60))
    await asyncio.sleep(0)
    assert [c.name for c in client.unsent()] == ["log_time"]  # work, by contrast
    working.cancel()
