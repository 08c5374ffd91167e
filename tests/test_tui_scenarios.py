"""Scenarios in the inbox: S picks one, it runs on the selected tickets, every inbox sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import LiveDesk, live_desk, until
from test_tui_trash import live

from core import canned, queries, scenarios
from tui.app import InboxApp
from tui.screens.inbox_scenarios import summary
from tui.screens.scenario_picker import ScenarioPicker

SIZE = (150, 44)


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


async def test_a_scenario_on_two_selected_tickets_is_seen_live_and_refusals_are_told(
        desk: LiveDesk) -> None:
    await desk.text("left alone", from_="+12025550100")
    await desk.text("my parcel?", from_="+12025550101")
    await desk.text("STOP", from_="+12025550102")
    store = desk.relay.store
    thanks = await store.write(canned.save_response, agent_id=1, response_id=None,
                               title="Thanks", body="Thanks! Ticket {{ticket.id}} is in hand.",
                               folder_id=None, personal=False)
    await store.write(scenarios.save_scenario, scenario_id=None, name="Spam", actions=[
        {"set": "status", "value": "closed"}])
    await store.write(scenarios.save_scenario, scenario_id=None, name="Wrap up", actions=[
        {"set": "status", "value": "pending"}, {"tags_add": ["vip"]},
        {"canned": thanks.id}])
    ada, bo = InboxApp(desk.config()), InboxApp(desk.config(admin=False))
    async with ada.run_test(size=SIZE) as ada_pilot, bo.run_test(size=SIZE) as bo_pilot:
        await live(ada_pilot, ada, 3)
        await live(bo_pilot, bo, 3)
        stopped, parcel, alone = (bo.inbox.model.row(i)["ticket"]["id"] for i in range(3))
        await bo_pilot.press("space", "j", "space", "S")
        picker = await until(bo_pilot, lambda: isinstance(bo.screen, ScenarioPicker)
                             and bo.screen, "the picker")
        assert "2 selected tickets" in str(picker.query_one(".preview-title").render())
        await bo_pilot.press(*"wrap")
        preview = str(picker.query_one("#preview-text").render())
        assert "3. send canned reply “Thanks”" in preview
        await bo_pilot.press("enter")

        def status_in_ada(ticket_id: int) -> str:
            rows = [ada.inbox.model.row(i) for i in range(ada.inbox.model.total)]
            return next(r["ticket"]["status"] for r in rows if r and r["ticket"]["id"] == ticket_id)

        await until(ada_pilot, lambda: status_in_ada(parcel) == "pending", "Ada seeing it")
        assert status_in_ada(stopped) == "open" and status_in_ada(alone) == "open"
        told = await until(bo_pilot, lambda: [str(n.message) for n in bo._notifications
                                              if "Applied to" in str(n.message)], "the summary")
        assert told[0].startswith(f"Applied to 1 ticket;\n#{stopped} refused: ")
        assert "opted out" in told[0].lower()
        await until(bo_pilot, lambda: not bo.inbox.tickets.selected, "the selection done")
        # The palette offers each scenario by name, run on the current ticket.
        current = bo.inbox.tickets.current()["ticket"]["id"]
        await bo_pilot.press("ctrl+p")
        await bo_pilot.press(*"Run scenario: Spam")
        await bo_pilot.pause(0.3)
        await bo_pilot.press("enter")
        # Closed tickets leave Ada's view of open ones, live.
        await until(ada_pilot, lambda: current not in {
            (ada.inbox.model.row(i) or {}).get("ticket", {}).get("id")
            for i in range(ada.inbox.model.total)}, "the palette's run seen")
        assert (await store.read(queries.ticket, current)).status == "closed"


def test_the_summary_names_each_refused_ticket_once_in_a_sentence() -> None:
    result = {"applied": [1, 2], "refused": [{"ticket_id": n, "refused": "opted out."}
                                               for n in range(3, 10)]}
    assert summary(result) == ("Applied to 2 tickets;\n" + "".join(
        f"#{n} refused: opted out;\n" for n in range(3, 8)) + "…and 2 more refused.")
