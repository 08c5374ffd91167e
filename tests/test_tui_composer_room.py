"""The reason a reply cannot go is never cut off, even in a short terminal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.widgets import Static

from core import queries, writes
from tui.app import InboxApp
from tui.widgets.composer import Composer


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


@pytest.mark.parametrize("size", [(120, 30), (80, 24)])
async def test_a_long_refusal_is_shown_whole(desk: LiveDesk, size: tuple[int, int]) -> None:
    await desk.text("Trial hello")
    [account] = await desk.relay.store.read(queries.accounts)
    await desk.relay.store.write(writes.update_account, account.id, type="Trial",
                                 verified_caller_ids=["+12025550100"])
    app = InboxApp(desk.config())
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.inbox.model.total == 1 and app.inbox.model.row(0),
                    what="the row")
        await pilot.press("enter")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: not composer.disabled, what="the composer")
        await pilot.press("r")
        verdict = composer.query_one("#composer-verdict", Static)
        await until(pilot, lambda: "Trial account" in composer.verdict_text(), what="refusal")
        await pilot.pause()
        inside = composer.content_region
        lines = verdict.render_lines(verdict.region.reset_offset)  # as drawn, wrapped
        drawn = [strip.text.strip() for strip in lines]
        assert drawn[-1] and verdict.region.bottom <= inside.bottom, (
            f"the verdict is cut: {verdict.region} in {inside}")
        assert "upgrade the account" in " ".join(drawn)
