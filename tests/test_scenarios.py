"""Scenarios on the relay: defined by admins, run per ticket all-or-nothing, never twice."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from relay_harness import UK_LONG_CODE, US_TOLL_FREE, Harness, relay_on_loopback
from test_canned import PNG

from core import queries
from core.writes import WriteContext, number_by_id, open_conversation

CALM = [{"set": "status", "value": "pending"}, {"tags_add": ["vip", "followup"]},
        {"note": "Handled by the scenario"}]


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[Harness]:
    async with relay_on_loopback(tmp_path) as harness:
        yield harness


def _count(conn: Any, sql: str, *params: Any) -> int:
    return int(conn.execute(sql, params).fetchone()[0])


async def _ticket_of(relay: Harness, phone: str, body: str = "hello") -> int:
    await relay.text(body, from_=phone)
    page = await relay.relay.store.read(queries.list_tickets)
    contact = {row.ticket.id: row for row in page.items}
    return next(t for t, row in contact.items() if row.contact_phone == phone)


async def test_only_admins_define_scenarios_and_bad_ones_are_refused_in_words(
        relay: Harness) -> None:
    async with relay.agent() as bo, relay.agent(token=relay.admin_token) as ada:
        await bo.until("caught_up")
        await ada.until("caught_up")
        assert (await bo.command("save_scenario", name="x", actions=CALM))["code"] == \
            "forbidden"
        saved = (await ada.command("save_scenario", name="Calm down", actions=CALM))["result"]
        assert saved["actions"][1] == {"tags_add": ["vip", "followup"]}
        for actions, words in [([], "at least one action"),
                               ([{"set": "status", "value": "asleep"}], "action 1"),
                               ([{"set": "colour", "value": "red"}], "set one of"),
                               ([{"note": ""}], "needs some text"),
                               ([{"canned": 999}], "does not exist"),
                               ([{"tags_add": "vip"}], "list of words"),
                               ([{"field": "Bad Key", "value": 1}], "lower-case"),
                               ([{"jump": 1}], "unknown action"),
                               ([{"note": "x"}, {"set": "group", "value": 999}],
                                "action 2: group 999 does not exist")]:
            answer = await ada.command("save_scenario", name="Bad", actions=actions)
            assert answer["type"] == "error" and words in answer["message"], (actions, answer)
        assert "already" in (await ada.command("save_scenario", name="calm DOWN",
                                               actions=CALM))["message"]
        # A shared response a scenario sends is not deleted from under it.
        reply = (await ada.command("save_canned", title="Bye", body="Bye"))["result"]
        await ada.command("save_scenario", name="Bye", actions=[{"canned": reply["id"]}])
        held = await ada.command("delete_canned", response_id=reply["id"])
        assert held["code"] == "refused" and "the scenario Bye sends it" in held["message"]
        mine = (await bo.command("save_canned", title="Mine", body="x", personal=True))["result"]
        personal = await ada.command("save_scenario", name="P", actions=[{"canned": mine["id"]}])
        assert "must be a shared one" in personal["message"]
        listed = (await bo.command("list_scenarios"))["result"]
        assert [s["name"] for s in listed] == ["Bye", "Calm down"]
        assert (await bo.command("delete_scenario", scenario_id=saved["id"]))["code"] == \
            "forbidden"
        assert (await ada.command("delete_scenario", scenario_id=saved["id"]))["result"]
        assert [s["name"] for s in (await bo.command("list_scenarios"))["result"]] == ["Bye"]


async def test_a_ticket_gets_all_of_a_scenario_or_none_when_its_third_action_fails(
        relay: Harness) -> None:
    with_order = await _ticket_of(relay, "+12025550101")
    without = await _ticket_of(relay, "+12025550102")
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        await ada.command("create_field", label="Order no", kind="text")
        await ada.command("set_ticket", ticket_id=with_order, custom_fields={"order_no": "A-7"})
        canned = (await ada.command("save_canned", title="Shipped",
                                    body="Order {{ticket.order_no}} has shipped"))["result"]
        scenario = (await ada.command("save_scenario", name="Shipped", actions=[
            {"set": "priority", "value": "high"}, {"note": "told them"},
            {"canned": canned["id"]}]))["result"]
        ran = (await ada.command("run_scenario", scenario_id=scenario["id"],
                                 ticket_ids=[with_order, without]))["result"]
        assert ran["applied"] == [with_order]
        assert ran["refused"] == [{"ticket_id": without, "ok": False, "refused":
                                   "the canned reply needs {{ticket.order_no}}, which this "
                                   "ticket has no value for"}]
    store = relay.relay.store
    done, untouched = await store.read(queries.ticket, with_order), \
        await store.read(queries.ticket, without)
    assert (done.priority, untouched.priority) == ("high", "low")
    thread = (await store.read(queries.thread, with_order)).items
    assert [e.body for e in thread][-2:] == ["told them", "Order A-7 has shipped"]
    assert [e.body for e in (await store.read(queries.thread, without)).items] == ["hello"]
    kinds = await store.read(lambda c: [r[0] for r in c.execute(
        "SELECT kind FROM events WHERE ticket_id = ? ORDER BY seq", (without,))])
    assert "note.created" not in kinds and "scenario.applied" not in kinds
    applied = await store.read(lambda c: c.execute(
        "SELECT payload FROM events WHERE kind = 'scenario.applied'").fetchall())
    assert len(applied) == 1 and '"name":"Shipped"' in applied[0][0]


async def test_a_canned_reply_goes_to_one_customer_and_is_refused_for_the_opted_out(
        relay: Harness) -> None:
    happy = await _ticket_of(relay, "+12025550111")
    gone = await _ticket_of(relay, "+12025550112", body="STOP")
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        canned = (await ada.command("save_canned", title="Thanks",
                                    body="Thanks {{ agent.name }}, ticket {{ticket.id}}"))["result"]
        scenario = (await ada.command("save_scenario", name="Thank", actions=[
            {"set": "status", "value": "resolved"}, {"canned": canned["id"]}]))["result"]
        ran = (await ada.command("run_scenario", command_id="r1", scenario_id=scenario["id"],
                                 ticket_ids=[happy, gone]))["result"]
        again = (await ada.command("run_scenario", command_id="r1", scenario_id=scenario["id"],
                                   ticket_ids=[happy, gone]))["result"]
    assert again == ran and ran["applied"] == [happy]
    assert "opted out" in ran["refused"][0]["refused"].lower()
    store = relay.relay.store
    assert (await store.read(queries.ticket, gone)).status == "open"
    replies = await store.read(lambda c: c.execute(
        "SELECT ticket_id, body FROM entries WHERE direction = 'outbound'").fetchall())
    assert [tuple(r) for r in replies] == [(happy, f"Thanks Ada, ticket {happy}")]


async def _seed_tickets(relay: Harness, count: int) -> list[int]:
    def seed(w: WriteContext) -> list[int]:
        number = number_by_id(w.conn, 1)
        assert number.e164 == US_TOLL_FREE
        return [open_conversation(w, phone=f"+1202555{i:04d}", number_id=number.id,
                                  agent_id=2, subject=f"t{i}").id for i in range(count)]
    return await relay.relay.store.write(seed)


async def test_a_run_on_500_tickets_is_all_or_nothing_per_ticket_and_done_once_when_resent(
        relay: Harness) -> None:
    tickets = await _seed_tickets(relay, 500)
    trashed = set(tickets[::50])  # ten tickets in the Trash: each refused, alone
    store = relay.relay.store
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        assert (await ada.command("delete_tickets", ticket_ids=sorted(trashed)))["result"]
        scenario = (await ada.command("save_scenario", name="Calm", actions=CALM))["result"]
        started = time.perf_counter()
        ran = (await ada.command("run_scenario", command_id="bulk", scenario_id=scenario["id"],
                                 ticket_ids=tickets))["result"]
        took = time.perf_counter() - started
        assert len(ran["applied"]) == 490 and {r["ticket_id"] for r in ran["refused"]} == trashed
        assert all("in the Trash" in r["refused"] for r in ran["refused"])
        events_before = await store.read(_count, "SELECT max(seq) FROM events")
        again = (await ada.command("run_scenario", command_id="bulk",
                                   scenario_id=scenario["id"], ticket_ids=tickets))["result"]
        assert again == ran
        # A resend that comes before the run's summary was recorded (the relay stopped in
        # between): each ticket's own record answers, and nothing is applied again.
        await store.write(lambda w: w.conn.execute(
            "DELETE FROM command_results WHERE command_id = 'bulk'"))
        resumed = (await ada.command("run_scenario", command_id="bulk",
                                     scenario_id=scenario["id"], ticket_ids=tickets))["result"]
        assert resumed == ran
        assert await store.read(_count, "SELECT max(seq) FROM events") == events_before
        too_many = await ada.command("run_scenario", scenario_id=scenario["id"],
                                     ticket_ids=list(range(1, 502)))
        assert too_many["code"] == "bad_args" and "500" in too_many["message"]
    assert await store.read(_count, "SELECT count(*) FROM entries WHERE kind = 'note'") == 490
    assert await store.read(_count, "SELECT count(*) FROM tickets WHERE status = 'pending'"
                            " AND tags = '[\"followup\", \"vip\"]'") == 490
    assert await store.read(_count, "SELECT count(*) FROM tickets WHERE status = 'pending'"
                            " AND deleted = 1") == 0
    print(f"run_scenario on 500 tickets: {took * 1000:.0f} ms")


async def test_a_canned_reply_with_a_picture_goes_by_mms_and_is_refused_on_an_sms_only_number(
        relay: Harness) -> None:
    us = await _ticket_of(relay, "+12025550121")
    await relay.text("hello", from_="+447700900123", to=UK_LONG_CODE)
    uk = next(row.ticket.id for row in (await relay.relay.store.read(queries.list_tickets)).items
              if row.ticket.id != us)
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        upload = (await ada.command("upload_media", content_type="image/png", data=PNG,
                                    filename="label.png"))["result"]
        label = (await ada.command("save_canned", title="Label", body="Your return label",
                                   media=[upload]))["result"]
        scenario = (await ada.command("save_scenario", name="Label", actions=[
            {"tags_add": ["return"]}, {"canned": label["id"]}]))["result"]
        ran = (await ada.command("run_scenario", scenario_id=scenario["id"],
                                 ticket_ids=[us, uk]))["result"]
    assert ran["applied"] == [us] and ran["refused"][0]["ticket_id"] == uk
    assert "SMS-only" in ran["refused"][0]["refused"]
    store = relay.relay.store
    assert (await store.read(queries.ticket, uk)).tags == ()
    sent = await store.read(lambda c: c.execute(
        "SELECT ticket_id, media FROM entries WHERE direction = 'outbound'").fetchall())
    assert [(row[0], upload["sha256"] in row[1]) for row in sent] == [(us, True)]


async def test_a_scenario_shows_in_the_activity_history_by_name_with_who_ran_it(
        relay: Harness) -> None:
    ticket = await _ticket_of(relay, "+12025550109")
    async with relay.agent(token=relay.admin_token) as ada:
        await ada.until("caught_up")
        await ada.command("create_field", label="Order number", kind="text")
        keep = [{"field": "order_number", "value": "A1"}, *CALM]
        saved = (await ada.command("save_scenario", name="Calm down", actions=keep))["result"]
        ran = await ada.command("run_scenario", scenario_id=saved["id"], ticket_ids=[ticket])
        assert ran["result"]["applied"] == [ticket], ran
        history = (await ada.command("ticket_activity", ticket_id=ticket))["result"]
        said = [f"{item['who']} {item['what']}" for item in history["items"]]
        assert said[:6] == ["Ada ran the scenario Calm down", "Ada added a note",
                            "Ada added tag followup", "Ada added tag vip",
                            "Ada set status Open → Pending", "Ada set Order number to A1"], said
