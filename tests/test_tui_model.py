"""The inbox's ticket-list model against an in-memory relay with the relay's paging rules."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.model import (
    Directory,
    ThreadState,
    TicketListModel,
    View,
    is_about,
    sort_key,
    standard_views,
    with_contact,
)


def ticket(ticket_id: int, at: int, **fields: Any) -> dict[str, Any]:
    return {"id": ticket_id, "contact_id": ticket_id, "number_id": 1, "status": "open",
            "priority": "low", "group_id": None, "agent_id": None, "tags": [],
            "unread": True, "deleted": False, "last_message_at": at, "last_preview": "",
            **fields}


def row_of(t: dict[str, Any]) -> dict[str, Any]:
    return {"ticket": t, "contact_name": f"c{t['id']}", "contact_phone": "+12025550100",
            "contact_opted_out": False}


class FakeRelay:
    """list_tickets/count_tickets over a dict of tickets, with keyset cursors like the relay's."""

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        self.tickets = {t["id"]: t for t in tickets}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _view(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        view = View(status=tuple(args["status"]) if args.get("status") else None,
                    unread=bool(args.get("unread")))
        rows = [row_of(t) for t in self.tickets.values() if view.matches(t)]
        return sorted(rows, key=sort_key, reverse=True)

    async def __call__(self, name: str, **args: Any) -> Any:
        self.calls.append((name, args))
        await asyncio.sleep(0)
        rows = self._view(args)
        if name == "count_tickets":
            return len(rows)
        limit = args.get("limit", 50)
        cursor = lambda r: f"{r['ticket']['last_message_at']}.{r['ticket']['id']}"  # noqa: E731
        key = lambda c: tuple(int(x) for x in c.split("."))  # noqa: E731
        if args.get("after") is not None:
            bound = key(args["after"])
            above = [r for r in reversed(rows) if sort_key(r) > bound]
            window = list(reversed(above[:limit]))
            more = len(above) > limit
            if not window:
                return {"items": [], "older": None, "newer": None}
            return {"items": window, "older": cursor(window[-1]),
                    "newer": cursor(window[0]) if more else None}
        if args.get("before") is not None:
            bound = key(args["before"])
            rows = [r for r in rows if sort_key(r) < bound]
        window = rows[:limit]
        if not window:
            return {"items": [], "older": None, "newer": None}
        return {"items": window, "older": cursor(window[-1]) if len(rows) > limit else None,
                "newer": None}


async def settle(model: TicketListModel) -> None:
    for _ in range(200):
        await asyncio.sleep(0)
        if model._loading is None or model._loading.done():
            return


def visible_ids(model: TicketListModel) -> list[int | None]:
    return [None if (r := model.row(i)) is None else r["ticket"]["id"]
            for i in range(model.total)]


async def test_first_window_then_more_as_rows_are_wanted() -> None:
    relay = FakeRelay([ticket(i, 1000 + i) for i in range(1, 501)])
    model = TicketListModel(relay, window=100)
    await model.switch(View())
    assert model.total == 500
    assert model.row(0)["ticket"]["id"] == 500
    assert model.row(150) is None
    model.request(140, 160)
    await settle(model)
    assert model.row(150)["ticket"]["id"] == 350


async def test_the_bottom_loads_without_walking_every_window() -> None:
    relay = FakeRelay([ticket(i, 1000 + i) for i in range(1, 10_001)])
    model = TicketListModel(relay, window=100)
    await model.switch(View())
    model.request(9_950, 9_999)
    await settle(model)
    assert model.row(9_999)["ticket"]["id"] == 1
    assert model.row(9_900)["ticket"]["id"] == 100
    assert len(relay.calls) <= 4  # count, first window, one window from the bottom


async def test_a_new_ticket_goes_on_top_and_an_updated_one_moves_up() -> None:
    relay = FakeRelay([ticket(i, 1000 + i) for i in range(1, 11)])
    model = TicketListModel(relay, window=100)
    await model.switch(View(status=("open",)))
    new = ticket(11, 2000)
    model.apply({"kind": "ticket.created", "payload": {
        "ticket": new, "contact": {"id": 11, "name": "Zed", "phone": "+1", "opted_out": False}}})
    assert model.total == 11 and model.row(0)["contact_name"] == "Zed"
    model.apply({"kind": "message.created", "payload": {"ticket": ticket(3, 3000)}})
    assert [model.row(i)["ticket"]["id"] for i in range(3)] == [3, 11, 10]
    model.apply({"kind": "ticket.updated", "payload": {
        "ticket": ticket(10, 1010, status="resolved"), "changed": ["status"]}})
    assert model.total == 10 and model.index_of(10) is None
    assert model.row(2)["contact_name"] == "c9"  # the row kept its contact


def test_views_match_as_the_relay_filters() -> None:
    mine = standard_views(7)[1]
    assert mine.matches(ticket(1, 1, agent_id=7))
    assert not mine.matches(ticket(1, 1, agent_id=8))
    assert not mine.matches(ticket(1, 1, agent_id=7, status="resolved"))
    assert not View().matches(ticket(1, 1, deleted=True))
    assert View(unassigned=True).matches(ticket(1, 1))


def test_directory_names_and_admin_events() -> None:
    names = Directory()
    names.load([{"id": 1, "name": "Billing"}], [{"id": 2, "name": "Ada"}],
               [{"id": 3, "e164": "+1", "account": {"id": 1, "status": "active"}}])
    assert (names.group(1), names.agent(2), names.group(None)) == ("Billing", "Ada", "")
    assert names.apply({"kind": "group.updated", "payload": {"group": {"id": 1, "name": "Ops"}}})
    assert names.group(1) == "Ops"
    names.apply({"kind": "number.updated", "payload": {"number": {"id": 3, "e164": "+1"}}})
    assert names.numbers[3]["account"]["status"] == "active"


def test_directory_follows_accounts_and_numbers_connected_after_start() -> None:
    names = Directory()
    account = {"id": 1, "name": "Acme", "geo_permissions": ["US"], "status": "active"}
    names.load([], [], [{"id": 3, "account_id": 1, "e164": "+18885550100", "account": account}])
    assert names.apply({"kind": "account.updated", "payload": {"account": {
        **account, "geo_permissions": ["GB", "US"], "auth_token_hint": "••••1234"}}})
    assert names.numbers[3]["account"]["geo_permissions"] == ["GB", "US"]
    assert "auth_token_hint" not in names.numbers[3]["account"]
    # A second account and its number, connected while the inbox runs.
    names.apply({"kind": "account.updated", "payload": {"account": {"id": 2, "name": "Beta",
                                                                     "geo_permissions": []}}})
    names.apply({"kind": "number.updated", "payload": {"number": {
        "id": 4, "account_id": 2, "e164": "+18885550111"}}})
    assert names.numbers[4]["account"]["name"] == "Beta"
    assert not names.missing_accounts()
    names.apply({"kind": "number.updated", "payload": {"number": {
        "id": 5, "account_id": 9, "e164": "+18885550122"}}})
    assert names.missing_accounts()  # its account came before the inbox: ask the relay


def test_thread_state_updates_in_place_and_appends_in_order() -> None:
    thread = ThreadState(1, [{"id": 5, "direction": "inbound", "body": "a"}])
    assert thread.upsert({"id": 7, "direction": "outbound", "status": "queued"})
    assert thread.upsert({"id": 7, "direction": "outbound", "status": "delivered"})
    assert [(e["id"], e.get("status")) for e in thread.entries] == [(5, None), (7, "delivered")]


operations = st.lists(
    st.tuples(st.sampled_from(["touch", "resolve", "create", "want"]),
              st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=59)),
    max_size=25)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_loaded_rows_always_agree_with_the_relay(ops: list[tuple[str, int, int]]) -> None:
    """Whatever events arrive, every loaded row sits where the relay would put it."""

    async def scenario() -> None:
        relay = FakeRelay([ticket(i, 1000 + i) for i in range(1, 41)])
        model = TicketListModel(relay, window=7)
        await model.switch(View(status=("open",)))
        clock, next_id = 5000, 41
        for op, ticket_id, index in ops:
            clock += 1
            if op == "want":
                model.request(index, index + 5)
                await settle(model)
                continue
            if op == "create":
                new = ticket(next_id, clock)
                next_id += 1
                relay.tickets[new["id"]] = new
                model.apply({"kind": "ticket.created", "payload": {"ticket": new, "contact": {
                    "id": new["id"], "name": f"c{new['id']}", "phone": "+12025550100"}}})
                continue
            if ticket_id not in relay.tickets:
                continue
            changed = dict(relay.tickets[ticket_id])
            if op == "touch":
                changed["last_message_at"] = clock
                changed["status"] = "open"
            else:
                changed["status"] = "resolved"
            relay.tickets[ticket_id] = changed
            model.apply({"kind": "message.created" if op == "touch" else "ticket.updated",
                         "payload": {"ticket": changed}})
        await model._count()
        truth = [r["ticket"]["id"] for r in relay._view({"status": ["open"]})]
        assert model.total == len(truth)
        for i, shown in enumerate(visible_ids(model)):
            assert shown is None or shown == truth[i], (i, visible_ids(model), truth)

    asyncio.run(scenario())


async def test_an_event_during_the_first_load_is_not_lost() -> None:
    """The first window may be older than a ticket created while it was on its way."""
    relay = FakeRelay([ticket(i, 1000 + i) for i in range(1, 4)])
    model = TicketListModel(relay, window=50)
    loading = asyncio.ensure_future(model.switch(View()))
    await asyncio.sleep(0)  # the requests are out, the answers (without #4) not yet in
    new = ticket(4, 5000)
    model.apply({"kind": "ticket.created", "payload": {"ticket": new, "contact": {
        "id": 4, "name": "Priya", "phone": "+1", "opted_out": False}}})
    await loading
    assert model.row(0)["contact_name"] == "Priya"
    relay.tickets[4] = new
    await model._count()
    assert model.total == 4


def test_every_standard_view_is_named_for_the_statuses_it_holds() -> None:
    for view in standard_views(agent_id=1):
        scope = "open & pending" if view.status == ("open", "pending") else "any status"
        assert view.status in (("open", "pending"), None)
        assert view.label.lower().endswith(scope), view.label
    assert len({v.label for v in standard_views(agent_id=1)}) == 6


def test_a_stop_from_one_phone_changes_only_that_phones_rows() -> None:
    """A contact with two phones: each row is its ticket's phone, with that phone's STOP."""
    work = {"ticket": {"id": 1, "contact_id": 7}, "contact_name": "", "contact_phone": "+1512",
            "contact_opted_out": False}
    home = {**work, "ticket": {"id": 2, "contact_id": 7}, "contact_phone": "+1513"}
    stop = {"contact": {"id": 7, "name": "Jordan", "phone": "+1512", "opted_out": False},
            "source": "keyword:STOP", "phone": "+1513", "phone_opted_out": True}
    assert with_contact(work, stop)["contact_opted_out"] is False
    assert with_contact(home, stop)["contact_opted_out"] is True
    assert with_contact(home, stop)["contact_phone"] == "+1513"
    assert with_contact(home, stop)["contact_name"] == "Jordan"


def test_a_merge_moves_the_merged_contacts_rows_to_the_kept_one() -> None:
    row = {"ticket": {"id": 3, "contact_id": 9}, "contact_name": "J at home",
           "contact_phone": "+1513", "contact_opted_out": True}
    merged = {"contact": {"id": 7, "name": "Jordan Reyes", "phone": "+1512"}, "merged_id": 9,
              "phones": [{"e164": "+1512", "opted_out": False},
                         {"e164": "+1513", "opted_out": True}]}
    assert is_about(row, merged) and not is_about({**row, "ticket": {"contact_id": 8}}, merged)
    after = with_contact(row, merged)
    assert (after["ticket"]["contact_id"], after["contact_name"], after["contact_opted_out"]) == (
        7, "Jordan Reyes", True)
