"""The search header's count is counted up to a cap: exact below it, "1,000+" past it.

Counting every ticket a common word finds read every match (2 s at 1M messages on either
backend); the count now stops past COUNT_CAP. Below the cap it must still be exact, which
the tests check against the search itself (every window of ``list_tickets``, counted).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Desk, customer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import queries, ticket_search, writes
from core.queries import TicketFilter
from core.store import SqliteConnection, Store

#: What the property test types: words in messages, names and tags, a prefix, a phone,
#: an email, a ticket number, and nothing at all.
TYPED = ["parcel", "late", "parcel late", "refund", "jordan", "vip", "par*", "jo*",
         "xylophone", customer(2), "JORDAN2@example.com", "#3", "#99"]


@pytest.fixture
async def counted(desk: Desk) -> Desk:
    """Twelve tickets found by every reading, several of them more than one way: words in
    several messages of one ticket, names shared by three contacts, a tag, closed ones."""
    for n in range(1, 13):
        body = ("parcel late", "refund please", "where is my parcel")[n % 3]
        first = await desk.inbound(body, from_=customer(n))
        await desk.inbound("parcel again" if n % 2 else "thanks", from_=customer(n))
        ticket_id = first.ticket.id
        if n % 4 == 0:
            await desk.store.write(writes.update_contact, first.ticket.contact_id,
                                   name=f"Jordan Reyes{n}", email=f"jordan{n}@example.com")
        if n % 5 == 0:
            await desk.update(ticket_id, tags=["VIP", "parcel"])
        if n % 3 == 0:
            await desk.update(ticket_id, status="closed")
    await desk.inbound("ask Jordan about it", from_=customer(2))
    return desk


def every_ticket_found(conn: Any, view: TicketFilter) -> int:
    """How many tickets the search lists, window by window (the count's oracle)."""
    found, before = 0, None
    while True:
        page = queries.list_tickets(conn, view, before=before, limit=4)
        found += len(page.items)
        before = page.older
        if before is None:
            return found


@contextmanager
def read_connection(store: Store) -> Iterator[Any]:
    """A plain read connection to the store, for a synchronous property test."""
    if store.url is not None:
        from core import pg as pg_driver

        conn = pg_driver.connect(store.url, read_only=True)
    else:
        assert store.path is not None
        conn = sqlite3.connect(store.path, isolation_level=None, factory=SqliteConnection)
        conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


async def test_below_the_cap_the_count_is_exact(counted: Desk) -> None:
    view = TicketFilter(text="parcel")
    exact = await counted.store.read(every_ticket_found, view)
    assert exact == 11  # all but #4 have a parcel in a message, or the tag
    for at_most in (11, 12, 1000):
        assert await counted.store.read(ticket_search.count_found, view,
                                        at_most=at_most) == exact
    assert await counted.store.read(queries.count_tickets, view) == exact
    jordan = TicketFilter(text="jordan")  # three by name, one by a message
    assert await counted.store.read(queries.count_tickets, jordan) == 4


async def test_at_the_cap_the_count_says_more(counted: Desk) -> None:
    view = TicketFilter(text="parcel")
    for at_most in (0, 1, 5, 10):
        assert await counted.store.read(ticket_search.count_found, view,
                                        at_most=at_most) == at_most + 1
    # A direct reading alone can pass the cap: three contacts named Jordan, cap 2.
    assert await counted.store.read(ticket_search.count_found, TicketFilter(text="jordan"),
                                    at_most=2) == 3


async def test_the_relay_counts_a_search_up_to_count_cap(
        counted: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ticket_search, "COUNT_CAP", 5)
    assert await counted.store.read(queries.count_tickets, TicketFilter(text="parcel")) == 6
    assert await counted.store.read(queries.count_tickets, TicketFilter(text="refund")) == 4
    assert await counted.store.read(queries.count_tickets) == 12  # no search: exact


async def test_the_bounded_count_is_the_exact_one_cut_at_the_cap(counted: Desk) -> None:
    with read_connection(counted.store) as conn:
        @settings(max_examples=80, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(text=st.sampled_from(TYPED), at_most=st.integers(0, 14),
               status=st.sampled_from([None, ("open",), ("closed",)]))
        def bounded(text: str, at_most: int, status: tuple[str, ...] | None) -> None:
            view = TicketFilter(text=text, status=status)
            exact = every_ticket_found(conn, view)
            assert ticket_search.count_found(conn, view, at_most=at_most) == \
                min(exact, at_most + 1), (text, status, exact)

        bounded()


async def test_the_inbox_says_more_than_the_cap_until_it_has_every_row() -> None:
    """The relay answers COUNT_CAP + 1 for a search past the cap: the header says
    "1,000+" (then the rows loaded, with "+") until the last window arrives."""
    from tui.model import TicketListModel, View

    rows = [{"ticket": {"id": i, "last_message_at": i}} for i in range(1500, 0, -1)]

    async def relay(name: str, **args: Any) -> Any:
        if name == "count_tickets":
            return ticket_search.COUNT_CAP + 1
        start = 0 if args.get("before") is None else int(args["before"])
        window = rows[start:start + args["limit"]]
        older = str(start + len(window)) if start + len(window) < len(rows) else None
        return {"items": window, "older": older, "newer": None}

    model = TicketListModel(relay, window=600)
    await model.switch(View(text="order"))
    assert model.counted == (1000, True)
    await model.switch(View())  # not a search: the count is the count
    assert model.counted == (1001, False)
    await model.switch(View(text="order"))
    model.request(0, 1100)
    await _loaded(model, 1200)
    assert model.counted == (1200, True)
    assert model.total == 1201 and model.row(1200) is None  # the list can scroll on
    model.request(1100, 1499)
    await _loaded(model, 1500)
    assert model.counted == (1500, False)  # the last window: every row, an exact count


async def _loaded(model: Any, rows: int) -> None:
    import asyncio

    for _ in range(200):
        if len(model.head) >= rows:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(model.head)} rows loaded, not {rows}")


async def test_the_header_says_how_many_tickets_match() -> None:
    from textual.app import App, ComposeResult

    from tui.widgets.header import InboxHeader

    class Header(App[None]):
        def compose(self) -> ComposeResult:
            yield InboxHeader()

    async with Header().run_test() as pilot:
        header = pilot.app.query_one(InboxHeader)
        said = []
        for total, more, searching in ((12, False, False), (1, False, False),
                                       (1, False, True), (7, False, True), (1000, True, True)):
            header.total, header.more, header.searching = total, more, searching
            said.append(header.count_text())
        await pilot.pause()
        assert said == ["12 tickets", "1 ticket", "1 ticket matches", "7 tickets match",
                        "1,000+ tickets match"]
        assert "1,000+ tickets match" in str(header.render())
