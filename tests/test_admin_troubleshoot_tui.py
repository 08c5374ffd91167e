"""The troubleshooting tab's repairs (issue 9, item 11): ``f`` on the check under the
cursor, repointing numbers whose SIDs changed, "repoint all", and the held texts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import UK_LONG_CODE, US_TOLL_FREE, LiveDesk, live_desk, until
from test_tui_admin import SIZE, open_admin, toasts
from textual.pilot import Pilot
from textual.widgets import DataTable

from core import queries, writes
from server.simulator.api import reissue_number_sid
from tui.app import InboxApp
from tui.screens.admin.troubleshoot import TroubleshootPane


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def open_checks(pilot: Pilot[Any], app: InboxApp) -> TroubleshootPane:
    """The admin screen, tab 3, once the checks have run."""
    screen = await open_admin(pilot, app)
    await pilot.press("3")
    pane = screen.query_one(TroubleshootPane)
    await until(pilot, lambda: pane.loaded, what="the checks")
    return pane


async def rerun(pilot: Pilot[Any], pane: TroubleshootPane) -> None:
    """``r``, and wait until the new answer is shown (not merely asked for)."""
    shown: list[dict[str, Any]] = []
    show = pane.show
    pane.show = lambda result: (shown.append(result), show(result))  # type: ignore[method-assign]
    await pilot.press("r")
    await until(pilot, lambda: shown, what="the checks run again", timeout=15)
    pane.show = show  # type: ignore[method-assign]


def option_of(pane: TroubleshootPane, wanted: Any) -> int:
    """The option list index of the first check ``wanted(check)`` accepts."""
    for index in range(pane.options.option_count):
        option_id = pane.options.get_option_at_index(index).id
        if option_id and option_id.startswith("c") and wanted(pane.checks[int(option_id[1:])]):
            return index
    raise AssertionError("no such check")


async def test_f_repoints_the_highlighted_number_even_after_its_sid_changed(
        desk: LiveDesk) -> None:
    moved = {phone: reissue_number_sid(desk.sim.state, phone) for phone in
             (US_TOLL_FREE, UK_LONG_CODE)}
    for number in moved.values():
        number.sms_url = "https://elsewhere.example/sms"
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_checks(pilot, app)
        repoints = [c for c in pane.checks if c.get("action") == "repoint"]
        assert len(repoints) == 2
        # the cursor on the SECOND number's check: f acts there, not on the first failing one
        second = option_of(pane, lambda c: c.get("action") == "repoint"
                           and UK_LONG_CODE in c["subject"])
        pane.options.highlighted = second
        await pilot.press("f")
        await until(pilot, lambda: "Webhooks repointed" in toasts(app), what="repointed")
        assert moved[UK_LONG_CODE].sms_url == desk.relay.public_url + "/twilio/inbound"
        assert moved[US_TOLL_FREE].sms_url == "https://elsewhere.example/sms"
        assert "20404" not in toasts(app)
        await until(pilot, lambda: pane.loaded and not pane.running and len(
            [c for c in pane.checks if c.get("action") == "repoint"]) == 1, what="re-run")
        # then the rest at once
        await pilot.press("R")
        await until(pilot, lambda: "2 numbers now send" in toasts(app), what="repoint all")
        await until(pilot, lambda: not pane.running and not any(
            c.get("action") == "repoint" for c in pane.checks), what="all fixed")
    assert moved[US_TOLL_FREE].sms_url == desk.relay.public_url + "/twilio/inbound"
    stored = {n.e164: n.sid for n in await desk.relay.store.read(queries.numbers)}
    assert stored == {phone: number.sid for phone, number in moved.items()}


async def test_a_rerun_keeps_the_cursor_on_its_check(desk: LiveDesk) -> None:
    elsewhere = desk.sim.state.number_by_phone(US_TOLL_FREE)
    assert elsewhere is not None
    elsewhere.sms_url = "https://elsewhere.example/sms"
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_checks(pilot, app)
        mms = option_of(pane, lambda c: c["check"] == "mms" and UK_LONG_CODE in c["subject"])
        pane.options.highlighted = mms
        await rerun(pilot, pane)
        check = pane.highlighted_check()
        assert check is not None and check["check"] == "mms" and \
            UK_LONG_CODE in check["subject"]


async def test_held_texts_are_listed_and_f_opens_them(desk: LiveDesk) -> None:
    store = desk.relay.store
    [number] = [n for n in await store.read(queries.numbers) if n.e164 == US_TOLL_FREE]
    await store.write(writes.update_number, number.id, enabled=False)
    await desk.text("Anyone there?")
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_checks(pilot, app)
        pane.options.highlighted = option_of(pane, lambda c: c["check"] == "held")
        assert "after it was disabled" in str(pane.highlighted_check())
        await pilot.press("f")
        await until(pilot, lambda: "opened as tickets" in toasts(app), what="opened")
        await until(pilot, lambda: not pane.running and not any(
            c["check"] == "held" for c in pane.checks), what="re-run")
    assert await store.read(queries.count_tickets) == 1


async def test_a_held_text_is_announced_on_the_admin_screen(desk: LiveDesk) -> None:
    store = desk.relay.store
    [number] = [n for n in await store.read(queries.numbers) if n.e164 == US_TOLL_FREE]
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_checks(pilot, app)
        assert not any(c["check"] == "held" for c in pane.checks)
        await store.write(writes.update_number, number.id, enabled=False)
        await desk.text("Anyone there?")
        await until(pilot, lambda: "Text held" in toasts(app), what="the announcement")
        await until(pilot, lambda: any(c["check"] == "held" for c in pane.checks),
                    what="the checks run again", timeout=15)


async def test_disabling_a_number_says_where_its_texts_go(desk: LiveDesk) -> None:
    app = InboxApp(desk.config())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_admin(pilot, app)
        await pilot.press("2")
        table = screen.query_one("#numbers-table", DataTable)
        await until(pilot, lambda: table.row_count == 2 and table.has_focus, what="numbers")
        await pilot.press("e")
        await until(pilot, lambda: "Number disabled" in toasts(app), what="disabled")
        assert "kept, not opened as tickets" in toasts(app)
