"""Setup changes reach an open inbox live: new numbers can be answered, rules judge at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from desk_harness import LiveDesk, live_desk, until
from textual.pilot import Pilot

from tui.app import InboxApp
from tui.client import RelayClient
from tui.widgets.composer import Composer
from tui.widgets.thread_view import ThreadView

SIZE = (150, 44)
NEW_NUMBER = "+18885550177"


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[LiveDesk]:
    async with live_desk(tmp_path) as running:
        yield running


@pytest.fixture
async def admin(desk: LiveDesk) -> AsyncIterator[RelayClient]:
    """Another admin's connection, doing what the connect wizard and accounts tab do."""
    client = RelayClient(desk.ws_url, desk.admin_token)
    task = asyncio.create_task(client.run())
    await client.wait_live(timeout=5)
    yield client
    await client.close()
    await task


async def rows(pilot: Pilot[Any], app: InboxApp, count: int) -> None:
    await until(pilot, lambda: app.inbox.model.total == count
                and all(app.inbox.model.row(i) for i in range(count)), what=f"{count} rows")


async def test_a_number_connected_mid_session_is_answered_without_a_restart(
        desk: LiveDesk, admin: RelayClient) -> None:
    await desk.text("first")
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        beta = desk.sim.add_account(friendly_name="Beta")
        number = desk.sim.add_number(beta.sid, NEW_NUMBER, mms=True)
        await admin.command("connect_account", name="Beta", sid=beta.sid,
                            token=beta.auth_token, number_sids=[number.sid])
        await until(pilot, lambda: any(n["e164"] == NEW_NUMBER
                                       for n in app.inbox.names.numbers.values()),
                    what="the new number")
        await desk.text("to the new number", to=NEW_NUMBER, from_="+12025550111")
        await rows(pilot, app, 2)
        await pilot.press("g", "enter")
        thread = app.inbox.query_one(ThreadView)
        await until(pilot, lambda: [e.get("body") for e in thread.entries]
                    == ["to the new number"], what="the new ticket's thread")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: composer.context is not None, what="a composer")
        await pilot.press("r", *"Answered from Beta", "ctrl+s")
        await until(pilot, lambda: any(m.body == "Answered from Beta" and m.from_ == NEW_NUMBER
                                       for m in desk.sim.messages), what="sent", timeout=10)


async def test_geo_permission_changes_reach_the_composer_live(
        desk: LiveDesk, admin: RelayClient) -> None:
    await desk.text("hello")
    app = InboxApp(desk.config(admin=False))
    async with app.run_test(size=SIZE) as pilot:
        await rows(pilot, app, 1)
        await pilot.press("enter", "r", *"On it")
        composer = app.inbox.query_one(Composer)
        await until(pilot, lambda: "Nothing stands in the way" in composer.verdict_text())
        account_id = next(iter(app.inbox.names.accounts))
        await admin.command("update_account", account_id=account_id, geo_permissions=["GB"])
        await until(pilot, lambda: "geo permissions" in composer.verdict_text(),
                    what="the relay's new rule in the composer")
        await admin.command("update_account", account_id=account_id,
                            geo_permissions=["GB", "US"])
        await until(pilot, lambda: "Nothing stands in the way" in composer.verdict_text(),
                    what="the rule lifted")
        assert composer.text == "On it"
