"""The bot's admin commands on a real relay, both backends: flows per number (TOML, checked
with line numbers, versioned, on/off) and business hours per number or group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from relay_harness import AgentClient, Harness, relay_on_loopback

from core import bot_store, queries, ticket_fields

FLOW = """\
greeting = "Hi, this is Acme Support."
start = "main"

[menus.main]
prompt = "Reply 1 for billing, 2 for a person."
invalid = "Sorry, I didn't get that. Reply 1 or 2."

[[menus.main.options]]
key = "1"
route = "Billing"
say = "Thanks, billing will text you soon."

[[menus.main.options]]
key = "2"
hand_off = true
"""

LONDON = {"time_zone": "Europe/London", "monday": "09:00-17:30", "tuesday": "09:00-17:30",
          "wednesday": "09:00-17:30", "thursday": "09:00-17:30", "friday": "09:00-17:00",
          "saturday": "closed", "sunday": "closed",
          "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}]}


@pytest.fixture
def database(store_backend: str, request: pytest.FixtureRequest) -> str | None:
    """Where the relay keeps its store: its SQLite file (None), or a PostgreSQL URL."""
    return None if store_backend == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def relay(tmp_path: Path, database: str | None) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path, database) as harness:
        yield harness


def _result(frame: dict[str, Any]) -> Any:
    assert frame["type"] == "result", frame
    return frame["result"]


async def _numbers(relay: Harness) -> dict[str, int]:
    return {n.e164: n.id for n in await relay.relay.store.read(queries.numbers)}


async def _admin_event(ada: AgentClient, kind: str) -> dict[str, Any]:
    while True:
        event = await ada.until("event")
        if event["kind"] == kind:
            return event


async def test_a_flow_is_saved_as_written_versioned_and_switched_on_by_admins_only(
        relay: Harness) -> None:
    numbers = await _numbers(relay)
    us, uk = numbers["+18885550100"], numbers["+447400900456"]
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        listed = _result(await ada.command("get_bot_flows"))["flows"]
        assert [(f["e164"], f["mms"], f["source"], f["enabled"], f["version"])
                for f in listed] == [("+18885550100", True, None, False, 0),
                                     ("+447400900456", False, None, False, 0)]
        refused = await ada.command("set_bot_enabled", number_id=uk, enabled=True)
        assert refused["type"] == "error" and "no bot flow yet" in refused["message"]

        saved = _result(await ada.command("save_bot_flow", command_id="s1", number_id=uk,
                                          source=FLOW))
        assert (saved["source"], saved["version"], saved["enabled"]) == (FLOW, 1, False)
        assert (await _admin_event(ada, "bot.flow_saved"))["payload"] == {"number_id": uk}
        again = _result(await ada.command("save_bot_flow", command_id="s1", number_id=uk,
                                          source=FLOW))
        assert again == saved  # a resend is answered, not saved twice
        second = _result(await ada.command("save_bot_flow", number_id=uk, source=FLOW,
                                           enabled=True))
        assert (second["version"], second["enabled"]) == (2, True)
        off = _result(await ada.command("set_bot_enabled", number_id=uk, enabled=False))
        assert (off["version"], off["enabled"]) == (2, False)
        kept = _result(await ada.command("save_bot_flow", number_id=uk, source=FLOW + "\n"))
        assert (kept["version"], kept["enabled"]) == (3, False)  # absent: on/off kept

        forbidden = await bo.command("save_bot_flow", number_id=us, source=FLOW)
        assert forbidden["type"] == "error" and forbidden["code"] == "forbidden"
        assert (await bo.command("get_bot_flows"))["code"] == "forbidden"
    stored = await relay.relay.store.read(bot_store.stored_flow, uk)
    assert stored is not None and stored.source == FLOW + "\n" and stored.version == 3
    assert await relay.relay.store.read(bot_store.stored_flow, us) is None


async def test_a_flow_that_cannot_run_is_refused_with_every_problem_and_its_line(
        relay: Harness) -> None:
    numbers = await _numbers(relay)
    us, uk = numbers["+18885550100"], numbers["+447400900456"]
    async with relay.agent(relay.admin_token) as ada:
        await ada.until("caught_up")
        buttons = await ada.command("save_bot_flow", number_id=us, source=FLOW.replace(
            'invalid = "Sorry', 'buttons = ["Billing", "A person"]\ninvalid = "Sorry'))
        assert buttons["code"] == "bad_args" and buttons["field"] == "source"
        assert "line 6: menus.main.buttons: SMS has no buttons" in buttons["message"]

        unknown = FLOW.replace('route = "Billing"', 'route = "Refunds"') + (
            '\n[questions.order]\nprompt = "Your order number?"\nfield = "order_number"\n')
        refused = await ada.command("save_bot_flow", number_id=us, source=unknown)
        assert refused["code"] == "bad_args"
        lines = refused["message"].splitlines()
        assert "line 10: menus.main.options[0].route: there is no group named 'Refunds'" \
            in lines
        assert any(line.startswith("line 19: questions.order.field: there is no ticket field")
                   for line in lines), lines

        picture = FLOW.replace(
            'say = "Thanks, billing will text you soon."',
            'say = { text = "Our prices", attachments = [{ sha256 = "' + "ab" * 32
            + '", content_type = "image/png", filename = "prices.png", size = 1000 }] }')
        sms_only = await ada.command("save_bot_flow", number_id=uk, source=picture)
        assert sms_only["code"] == "bad_args"
        assert "this number is SMS-only: the bot can send text only" in sms_only["message"]
        assert _result(await ada.command("save_bot_flow", number_id=us, source=picture))[
            "version"] == 1  # the MMS number may send it

        syntax = await ada.command("save_bot_flow", number_id=us, source='greeting = "Hi\n')
        assert syntax["code"] == "bad_args" and syntax["message"].startswith("line 1:")
        nowhere = await ada.command("save_bot_flow", number_id=999, source=FLOW)
        assert nowhere["code"] == "not_found"
    assert await relay.relay.store.read(bot_store.flow_source, uk) is None


async def test_a_saved_flow_shows_what_stops_it_once_the_desk_changes(relay: Harness) -> None:
    """A field retired after the save: the row lists the problem, and turning the flow on
    is refused in words until it is fixed."""
    uk = (await _numbers(relay))["+447400900456"]
    store = relay.relay.store
    field = await store.write(ticket_fields.create_field, label="Order number", kind="text")
    asking = FLOW + ('\n[questions.order]\nprompt = "Your order number?"\n'
                     'field = "order_number"\n')
    asking = asking.replace('key = "2"\nhand_off = true', 'key = "2"\nask = "order"')
    async with relay.agent(relay.admin_token) as ada:
        await ada.until("caught_up")
        _result(await ada.command("save_bot_flow", number_id=uk, source=asking))
        await store.write(ticket_fields.update_field, field.id, retired=True)
        row = next(f for f in _result(await ada.command("get_bot_flows"))["flows"]
                   if f["number_id"] == uk)
        assert [(p["where"], p["message"]) for p in row["problems"]] == [
            ("questions.order.field", "there is no ticket field with the key 'order_number'")]
        assert row["problems"][0]["line"] == 19
        refused = await ada.command("set_bot_enabled", number_id=uk, enabled=True)
        assert refused["code"] == "bad_args"
        assert refused["message"].startswith("fix the flow before turning it on:")


async def test_business_hours_per_number_and_group_saved_canonical_and_cleared(
        relay: Harness) -> None:
    uk = (await _numbers(relay))["+447400900456"]
    store = relay.relay.store
    billing = next(g for g in await store.read(queries.groups) if g.name == "Billing")
    async with relay.agent(relay.admin_token) as ada, relay.agent() as bo:
        await ada.until("caught_up")
        await bo.until("caught_up")
        listed = _result(await ada.command("get_business_hours"))["hours"]
        assert [(h["scope"], h["name"], h["calendar"]) for h in listed] == [
            ("number", "+18885550100", None), ("number", "+447400900456", None),
            ("group", "Billing", None)]
        saved = _result(await ada.command("save_business_hours", scope="number", scope_id=uk,
                                          calendar={**LONDON, "monday": "9:00 - 17:30"}))
        assert saved["calendar"]["monday"] == "09:00-17:30"  # stored in its canonical form
        assert saved["calendar"]["holidays"] == [{"date": "2026-12-25",
                                                  "name": "Christmas Day"}]
        assert (await _admin_event(ada, "hours.saved"))["payload"] == {"scope": "number",
                                                                        "scope_id": uk}
        _result(await ada.command("save_business_hours", scope="group", scope_id=billing.id,
                                  calendar=LONDON))
        listed = _result(await ada.command("get_business_hours"))["hours"]
        assert [h["calendar"] is not None for h in listed] == [False, True, True]

        bad = await ada.command("save_business_hours", scope="number", scope_id=uk,
                                calendar={**LONDON, "tuesday": "17:00-09:00",
                                          "time_zone": "Mars/Olympus"})
        assert bad["code"] == "bad_args" and bad["field"] == "calendar"
        assert "time_zone" in bad["message"] and "tuesday" in bad["message"]
        assert (await ada.command("save_business_hours", scope="planet", scope_id=uk,
                                  calendar=None))["code"] == "refused"
        assert (await ada.command("save_business_hours", scope="group", scope_id=99,
                                  calendar=None))["code"] == "not_found"
        assert (await bo.command("save_business_hours", scope="number", scope_id=uk,
                                 calendar=None))["code"] == "forbidden"

        cleared = _result(await ada.command("save_business_hours", scope="number",
                                            scope_id=uk, calendar=None))
        assert cleared["calendar"] is None
    # The ticket's hours: its number's, else its group's, else none.
    assert await store.read(bot_store.calendar_for_ticket, uk, None) is None
    by_group = await store.read(bot_store.calendar_for_ticket, uk, billing.id)
    assert by_group is not None and by_group.time_zone == "Europe/London"
