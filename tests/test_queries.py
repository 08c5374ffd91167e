"""Reading the store: keyset-paginated ticket lists and threads, full-text search."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
from dataclasses import dataclass

import pytest
from conftest import UK, US, Desk, customer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core import queries, writes
from core.models import Agent, Message, Note, Role, Ticket, TicketStatus
from core.queries import BadCursor, Page, TicketFilter, TicketRow
from core.store import Store

PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- a realistic inbox ---------------------------------------------------------------


@dataclass
class Inbox:
    desk: Desk
    agents: tuple[Agent, Agent]
    tickets: list[Ticket]  # every ticket as stored, deleted ones included

    @property
    def store(self) -> Store:
        return self.desk.store

    def expected(self, view: TicketFilter) -> list[int]:
        """The ids a view should list, worked out here without SQL."""
        chosen = [
            t
            for t in self.tickets
            if not t.deleted
            and (not view.status or t.status in view.status)
            and (view.group_id is None or t.group_id == view.group_id)
            and (not view.unassigned or t.agent_id is None)
            and (view.unassigned or view.agent_id is None or t.agent_id == view.agent_id)
            and (not view.unread or t.unread)
        ]
        chosen.sort(key=lambda t: (t.last_message_at, t.id), reverse=True)
        return [t.id for t in chosen]


@pytest.fixture
async def inbox(desk: Desk) -> Inbox:
    """300 tickets from 300 contacts, with every mix of status, group, agent and read state.

    Built in a few batches: the writer stamps every job in a batch with the same
    time, so many tickets tie on ``last_message_at`` and only ``id`` orders them.
    """
    store = desk.store
    rng = random.Random(20240601)
    agents = (
        await store.write(writes.add_agent, name="alice", role=Role.AGENT, token_hash="h1"),
        await store.write(writes.add_agent, name="bob", role=Role.ADMIN, token_hash="h2"),
    )
    ids: list[int] = []
    for chunk in range(6):
        results = await asyncio.gather(
            *(
                desk.inbound(f"ticket {n}", from_=customer(n), to=US if n % 4 else UK)
                for n in range(chunk * 50, chunk * 50 + 50)
            )
        )
        ids.extend(r.ticket.id for r in results)
    # some conversations carry on and move to the top
    for n in rng.sample(range(300), 40):
        await desk.inbound(f"follow-up {n}", from_=customer(n), to=US if n % 4 else UK)

    changes = []
    for ticket_id in ids:
        change: dict[str, object] = {}
        if rng.random() < 0.7:
            change["status"] = rng.choice(list(TicketStatus))
        if rng.random() < 0.5:
            change["group_id"] = rng.choice([None, desk.billing.id, desk.support.id])
        if rng.random() < 0.6:
            change["agent_id"] = rng.choice([None, agents[0].id, agents[1].id])
        if rng.random() < 0.5:
            change["unread"] = False
        if rng.random() < 0.05:
            change["deleted"] = True
        if change:
            changes.append(store.write(writes.update_ticket, ticket_id, **change))
    await asyncio.gather(*changes)
    tickets = [await desk.ticket(ticket_id) for ticket_id in ids]
    assert len({t.last_message_at for t in tickets}) <= 50  # plenty of ties
    return Inbox(desk, agents, tickets)


async def walk_down(
    store: Store, view: TicketFilter, limit: int
) -> list[Page[TicketRow]]:
    pages = [await store.read(queries.list_tickets, view, limit=limit)]
    while pages[-1].older is not None:
        pages.append(await store.read(queries.list_tickets, view, before=pages[-1].older,
                                      limit=limit))
        assert len(pages) < 1000, "paging does not end"
    return pages


def ids_of(pages: list[Page[TicketRow]]) -> list[int]:
    return [row.ticket.id for page in pages for row in page.items]


# --- ticket lists --------------------------------------------------------------------


async def test_paging_down_yields_every_ticket_once_in_order(inbox: Inbox) -> None:
    view = TicketFilter()
    pages = await walk_down(inbox.store, view, limit=37)
    expected = inbox.expected(view)
    assert len(expected) > 250
    assert ids_of(pages) == expected
    assert all(len(p.items) == 37 for p in pages[:-1])
    assert 0 < len(pages[-1].items) <= 37
    assert pages[0].newer is None
    assert all(p.newer is not None for p in pages[1:])
    # rows come with their contact
    row = pages[0].items[0]
    assert row.contact_phone.startswith("+1555") and row.contact_opted_out is False


async def test_paging_up_retraces_the_same_windows(inbox: Inbox) -> None:
    view = TicketFilter()
    down = await walk_down(inbox.store, view, limit=37)
    up = [down[-1]]
    while up[-1].newer is not None:
        up.append(await inbox.store.read(queries.list_tickets, view, after=up[-1].newer,
                                         limit=37))
        assert len(up) <= len(down)
    assert [p.items for p in reversed(up)] == [p.items for p in down]
    # from any window, "older" leads back down to the window below
    middle = up[len(up) // 2]
    below = await inbox.store.read(queries.list_tickets, view, before=middle.older, limit=37)
    assert below.items == down[len(down) - 1 - len(up) // 2 + 1].items


async def test_a_window_exactly_at_the_end(inbox: Inbox) -> None:
    total = len(inbox.expected(TicketFilter()))
    page = await inbox.store.read(queries.list_tickets, limit=total)
    assert len(page.items) == total and page.older is None
    shorter = await inbox.store.read(queries.list_tickets, limit=total - 1)
    assert shorter.older is not None
    last = await inbox.store.read(queries.list_tickets, before=shorter.older, limit=total)
    assert len(last.items) == 1 and last.older is None


@pytest.mark.parametrize(
    "make_view",
    [
        lambda i: TicketFilter(status=(TicketStatus.OPEN,)),
        lambda i: TicketFilter(status=(TicketStatus.PENDING, TicketStatus.RESOLVED)),
        lambda i: TicketFilter(group_id=i.desk.billing.id),
        lambda i: TicketFilter(agent_id=i.agents[0].id),
        lambda i: TicketFilter(unassigned=True),
        lambda i: TicketFilter(unread=True),
        lambda i: TicketFilter(status=(TicketStatus.OPEN, TicketStatus.PENDING),
                               group_id=i.desk.support.id, agent_id=i.agents[1].id, unread=True),
        lambda i: TicketFilter(status=(TicketStatus.CLOSED,), unassigned=True, unread=True),
    ],
    ids=["open", "pending+resolved", "group", "agent", "unassigned", "unread", "combined",
         "closed-unassigned-unread"],
)
async def test_filters(inbox: Inbox, make_view: object) -> None:
    view = make_view(inbox)  # type: ignore[operator]
    expected = inbox.expected(view)
    assert expected, "the fixture should populate every view"
    assert ids_of(await walk_down(inbox.store, view, limit=20)) == expected
    assert await inbox.store.read(queries.count_tickets, view) == len(expected)


async def test_deleted_tickets_are_never_listed(inbox: Inbox) -> None:
    deleted = {t.id for t in inbox.tickets if t.deleted}
    assert deleted
    listed = set(ids_of(await walk_down(inbox.store, TicketFilter(), limit=500)))
    assert not listed & deleted
    assert await inbox.store.read(queries.count_tickets) == len(inbox.tickets) - len(deleted)


_STATUSES = st.none() | st.lists(
    st.sampled_from(list(TicketStatus)), min_size=1, max_size=3, unique=True
).map(tuple)


@PROPERTY
@given(
    status=_STATUSES,
    group=st.sampled_from(["any", "billing", "support", "none"]),
    agent=st.sampled_from(["any", "unassigned", 0, 1]),
    unread=st.booleans(),
    limit=st.integers(min_value=1, max_value=80),
)
async def test_paging_covers_any_filter_exactly(
    inbox: Inbox, status: tuple[TicketStatus, ...] | None, group: str, agent: str | int,
    unread: bool, limit: int,
) -> None:
    group_ids = {"any": None, "billing": inbox.desk.billing.id,
                 "support": inbox.desk.support.id, "none": -1}
    view = TicketFilter(
        status=status,
        group_id=group_ids[group],
        agent_id=inbox.agents[agent].id if isinstance(agent, int) else None,
        unassigned=agent == "unassigned",
        unread=unread,
    )
    expected = inbox.expected(view)
    pages = await walk_down(inbox.store, view, limit=limit)
    got = ids_of(pages)
    assert got == expected
    assert len(set(got)) == len(got)
    assert all(len(p.items) == limit for p in pages[:-1])
    assert await inbox.store.read(queries.count_tickets, view) == len(expected)


async def test_an_empty_list(desk: Desk) -> None:
    page = await desk.store.read(queries.list_tickets)
    assert page == Page((), None, None)
    assert await desk.store.read(queries.count_tickets) == 0


async def test_new_activity_does_not_disturb_paging_down(inbox: Inbox) -> None:
    # An agent is on window 2 when a text bumps a ticket from window 5 to the top:
    # paging on from window 2 neither repeats nor skips anything still below.
    view = TicketFilter()
    first = await inbox.store.read(queries.list_tickets, view, limit=30)
    second = await inbox.store.read(queries.list_tickets, view, before=first.older, limit=30)
    before = inbox.expected(view)
    bumped = before[140]
    ticket = next(t for t in inbox.tickets if t.id == bumped)
    contact = await inbox.store.read(queries.contact, ticket.contact_id)
    assert contact is not None
    number = US if ticket.number_id == inbox.desk.us.id else UK
    await inbox.desk.inbound("bump", from_=contact.phone, to=number)
    rest: list[int] = []
    cursor = second.older
    while cursor is not None:
        page = await inbox.store.read(queries.list_tickets, view, before=cursor, limit=30)
        rest.extend(row.ticket.id for row in page.items)
        cursor = page.older
    assert rest == [i for i in before[60:] if i != bumped]


@pytest.mark.parametrize("cursor", ["garbage", "", "1.2.3", "abc.5", "5.", ".5", "1e3.4"])
async def test_bad_ticket_cursors(desk: Desk, cursor: str) -> None:
    with pytest.raises(BadCursor):
        await desk.store.read(queries.list_tickets, before=cursor)
    with pytest.raises(BadCursor):
        await desk.store.read(queries.list_tickets, after=cursor)


# --- threads -------------------------------------------------------------------------


@pytest.fixture
async def long_thread(desk: Desk) -> tuple[int, list[int], int]:
    """A ticket with 1,000 entries (messages and notes), interleaved with another ticket's."""
    mine = (await desk.inbound("entry 0", from_=customer(1))).ticket.id
    other = (await desk.inbound("other 0", from_=customer(2))).ticket.id

    jobs = []
    for n in range(1, 1000):
        if n % 10 == 0:
            jobs.append(desk.store.write(writes.add_note, ticket_id=mine, agent_id=None,
                                         body=f"note {n}"))
        else:
            jobs.append(desk.inbound(f"entry {n}", from_=customer(1)))
        if n % 3 == 0:
            jobs.append(desk.inbound(f"other {n}", from_=customer(2)))
    await asyncio.gather(*jobs)
    page = await desk.store.read(queries.thread, mine, limit=500)
    entries = list(page.items)
    while page.older is not None:
        page = await desk.store.read(queries.thread, mine, before=page.older, limit=500)
        entries[:0] = page.items
    assert len(entries) == 1000
    return mine, [e.id for e in entries], other


async def test_a_thread_opens_at_its_newest_window(
    desk: Desk, long_thread: tuple[int, list[int], int]
) -> None:
    ticket_id, ids, _ = long_thread
    page = await desk.store.read(queries.thread, ticket_id)
    assert [e.id for e in page.items] == ids[-50:]  # oldest at the top
    assert page.newer is None and page.older is not None
    assert page.items[-1].body == "entry 999"
    kinds = {type(e) for e in page.items}
    assert kinds == {Message, Note}


async def test_paging_up_a_long_thread(
    desk: Desk, long_thread: tuple[int, list[int], int]
) -> None:
    ticket_id, ids, _ = long_thread
    assert ids == sorted(ids) and len(set(ids)) == 1000
    pages = [await desk.store.read(queries.thread, ticket_id, limit=37)]
    while pages[-1].older is not None:
        pages.append(
            await desk.store.read(queries.thread, ticket_id, before=pages[-1].older, limit=37)
        )
    seen = [e.id for page in reversed(pages) for e in page.items]
    assert seen == ids  # nothing missing, nothing twice, nothing from the other ticket
    assert [e.body for page in reversed(pages) for e in page.items][:2] == ["entry 0", "entry 1"]
    assert len(pages) == -(-1000 // 37)
    assert all(p.newer is not None for p in pages[1:])


async def test_paging_down_a_long_thread(
    desk: Desk, long_thread: tuple[int, list[int], int]
) -> None:
    ticket_id, ids, _ = long_thread
    page = await desk.store.read(queries.thread, ticket_id, after="0", limit=64)
    assert [e.id for e in page.items] == ids[:64]
    seen = [e.id for e in page.items]
    while page.newer is not None:
        page = await desk.store.read(queries.thread, ticket_id, after=page.newer, limit=64)
        seen.extend(e.id for e in page.items)
    assert seen == ids
    # and from a window reached going down, "older" is the window just above it
    middle = await desk.store.read(queries.thread, ticket_id, after=str(ids[499]), limit=64)
    above = await desk.store.read(queries.thread, ticket_id, before=middle.older, limit=64)
    assert [e.id for e in above.items] == ids[436:500]
    assert above.newer == str(ids[499])


async def test_threads_of_other_tickets_stay_apart(
    desk: Desk, long_thread: tuple[int, list[int], int]
) -> None:
    _, ids, other = long_thread
    page = await desk.store.read(queries.thread, other, limit=500)
    assert len(page.items) == 334 and page.older is None
    assert not {e.id for e in page.items} & set(ids)
    assert await desk.store.read(queries.thread, 987654) == Page((), None, None)


@pytest.mark.parametrize("cursor", ["abc", "1.5", "0x10"])
async def test_bad_thread_cursors(desk: Desk, cursor: str) -> None:
    ticket_id = (await desk.inbound("hi")).ticket.id
    with pytest.raises(BadCursor):
        await desk.store.read(queries.thread, ticket_id, before=cursor)
    with pytest.raises(BadCursor):
        await desk.store.read(queries.thread, ticket_id, after=cursor)


# --- search --------------------------------------------------------------------------


async def test_search_is_newest_first_across_messages_and_notes(desk: Desk) -> None:
    a = await desk.inbound("I want a refund for order 12", from_=customer(1))
    b = await desk.inbound("where is my parcel", from_=customer(2))
    note = await desk.store.write(writes.add_note, ticket_id=b.ticket.id, agent_id=None,
                                  body="Customer may ask for a REFUND later")
    c = await desk.inbound("refund please!!", from_=customer(3), to=UK)
    hits = await desk.store.read(queries.search, "refund")
    assert [h.entry.id for h in hits] == [c.message.id, note.id, a.message.id]
    assert [h.ticket_id for h in hits] == [c.ticket.id, b.ticket.id, a.ticket.id]
    assert isinstance(hits[1].entry, Note)
    # paging on with the last hit's id
    older = await desk.store.read(queries.search, "refund", before=hits[0].entry.id, limit=1)
    assert [h.entry.id for h in older] == [note.id]


async def test_search_words_all_match_and_a_star_makes_a_prefix(desk: Desk) -> None:
    hit = await desk.inbound("Refund requested for the blue jacket", from_=customer(1))
    other = await desk.inbound("a refund", from_=customer(2))
    await desk.inbound("the blue sky", from_=customer(3))

    async def found(text: str) -> list[int]:
        return [h.entry.id for h in await desk.store.read(queries.search, text)]

    assert await found("refund blue") == [hit.message.id]
    assert await found("REFUND, Blue!") == [hit.message.id]  # case and punctuation
    assert await found("blue refund jacket") == [hit.message.id]  # any order
    # whole words only, unless the agent asks for a prefix with "*"
    assert await found("refund jack") == []
    assert await found("refund jack*") == [hit.message.id]
    assert await found("refu*") == [other.message.id, hit.message.id]
    assert await found("refu* sky") == []
    assert await found("re* bl*") == [hit.message.id]
    assert await found("   ") == []
    assert await found("?!") == []


async def test_search_ignores_accents(desk: Desk) -> None:
    hit = await desk.inbound("Le café était fermé", from_=customer(1))
    for text in ("cafe", "CAFÉ", "etait ferme"):
        assert [h.entry.id for h in await desk.store.read(queries.search, text)] == [
            hit.message.id
        ], text


HOSTILE = [
    '"', '""', "'", "AND", "OR", "NOT", "a AND", "AND b", "a OR b", "NOT a", "*", "a*", "**",
    "NEAR(", "NEAR(a b)", "NEAR/3", "-", "-a", "a - b", "+", "^a", "a:b", "body:refund",
    "(", ")", "((a)", "{a b}", "a\x00b", "\\", '"refund', 'refund"', "'; DROP TABLE entries; --",
    "%", "_%", "\u200b", "🙂", "🙂 refund", "ﷺ", "a" * 2000, "rëfünd*",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_search_never_raises_on_what_agents_type(desk: Desk, text: str) -> None:
    await desk.inbound("refund for order 12")
    assert isinstance(await desk.store.read(queries.search, text), list)
    page = await desk.store.read(queries.list_tickets, TicketFilter(text=text))
    assert isinstance(page, Page)


# Characters Python counts as part of a word but SQLite's unicode61 tokenizer treats
# as separators; see test_words_joined_by_a_separator_can_be_searched below.
_JOINERS = "_" + "".join(map(chr, [*range(0x19B0, 0x19C1), 0x19C8, 0x19C9, 0x1CF2, 0x1CF3]))


@PROPERTY
@given(text=st.text(st.characters(exclude_characters=_JOINERS, exclude_categories=["Cs"])))
@example(text='NEAR("a" b) AND -c* OR "')
@example(text="a\u0301 b")
async def test_fts_query_is_always_safe(desk: Desk, text: str) -> None:
    query = queries.fts_query(text)
    if query is None:
        assert not any(c.isalnum() or c == "_" for c in text)
    else:
        assert re.fullmatch(r'"[^"]+"\*?( "[^"]+"\*?)*', query), query
    assert isinstance(await desk.store.read(queries.search, text), list)


@pytest.mark.parametrize("text", ["order_id", "snake_case refund", "\u1980\u19b0\u1981"])
async def test_words_joined_by_a_separator_can_be_searched(desk: Desk, text: str) -> None:
    await desk.inbound("what is my order id")
    await desk.store.read(queries.search, text)
    await desk.store.read(queries.list_tickets, TicketFilter(text=text))


# --- ticket lists filtered by text ----------------------------------------------------


@pytest.fixture
async def searchable(desk: Desk) -> tuple[Desk, list[int]]:
    """30 tickets; 20 mention "invoice" one or more times, in messages or notes.

    Returns the ids of matching tickets, most recent match first.
    """
    newest_match: dict[int, int] = {}
    ticket_ids = []
    for n in range(30):
        result = await desk.inbound(f"hello number {n}", from_=customer(n))
        ticket_ids.append(result.ticket.id)
    rng = random.Random(7)
    for round_ in range(4):
        for n in rng.sample(range(30), 12):
            ticket_id = ticket_ids[n]
            if n >= 20:
                body = f"nothing to see {round_}"
                await desk.inbound(body, from_=customer(n))
                continue
            if round_ % 2:
                entry = await desk.store.write(writes.add_note, ticket_id=ticket_id,
                                               agent_id=None, body=f"invoice sent {round_}")
                newest_match[ticket_id] = entry.id
            else:
                result = await desk.inbound(f"where is my Invoice? {round_}", from_=customer(n))
                newest_match[ticket_id] = result.message.id
    for n in range(20):  # make sure all 20 match at least once
        if ticket_ids[n] not in newest_match:
            result = await desk.inbound("INVOICE", from_=customer(n))
            newest_match[ticket_ids[n]] = result.message.id
    order = sorted(newest_match, key=newest_match.__getitem__, reverse=True)
    assert len(order) == 20
    return desk, order


async def walk_text(store: Store, view: TicketFilter, limit: int) -> list[Page[TicketRow]]:
    pages = [await store.read(queries.list_tickets, view, limit=limit)]
    while pages[-1].older is not None:
        pages.append(
            await store.read(queries.list_tickets, view, before=pages[-1].older, limit=limit)
        )
        assert len(pages) < 100
    return pages


@pytest.mark.parametrize("limit", [1, 3, 4, 7, 20, 50])
async def test_text_filter_lists_each_matching_ticket_once(
    searchable: tuple[Desk, list[int]], limit: int
) -> None:
    desk, order = searchable
    pages = await walk_text(desk.store, TicketFilter(text="invoice"), limit)
    assert ids_of(pages) == order
    assert all(len(p.items) <= limit for p in pages)


async def test_text_filter_combines_with_other_filters(
    searchable: tuple[Desk, list[int]]
) -> None:
    desk, order = searchable
    closed, deleted = order[1], order[3]
    await desk.update(closed, status="closed")
    await desk.update(deleted, deleted=True)
    view = TicketFilter(text="invo*", status=(TicketStatus.OPEN,))
    pages = await walk_text(desk.store, view, 3)
    assert ids_of(pages) == [i for i in order if i not in (closed, deleted)]
    none = await desk.store.read(queries.list_tickets, TicketFilter(text="zzzz"))
    assert none.items == () and none.older is None


async def test_bad_search_cursor(searchable: tuple[Desk, list[int]]) -> None:
    desk, _ = searchable
    with pytest.raises(BadCursor):
        await desk.store.read(queries.list_tickets, TicketFilter(text="invoice"),
                              before="1700000000000.5")


async def test_count_agrees_with_a_text_filter(searchable: tuple[Desk, list[int]]) -> None:
    desk, order = searchable
    assert await desk.store.read(queries.count_tickets, TicketFilter(text="invoice")) == len(
        order
    )


async def test_a_text_filtered_list_pages_downward_only(
    searchable: tuple[Desk, list[int]],
) -> None:
    desk, _ = searchable
    view = TicketFilter(text="invoice")
    pages = await walk_text(desk.store, view, 4)
    assert len(pages) >= 3
    assert all(page.newer is None for page in pages)
    with pytest.raises(BadCursor):
        await desk.store.read(queries.list_tickets, view, after=pages[1].older, limit=4)


@pytest.mark.sqlite_only  # SQLite's query plans (trace callback, EXPLAIN QUERY PLAN)
async def test_the_list_finds_each_tickets_last_reply_by_one_index_probe(desk: Desk) -> None:
    """The failed-delivery flag must not walk a long thread for every row of every window."""
    inbound = await desk.inbound("hello")
    reply = await desk.store.write(writes.queue_outbound, ticket_id=inbound.ticket.id,
                                   agent_id=None, body="hi")
    await desk.store.write(writes.mark_failed, reply.id, error_code=30003)

    def plans(conn: sqlite3.Connection) -> tuple[TicketRow, list[str]]:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            page = queries.list_tickets(conn, TicketFilter())
        finally:
            conn.set_trace_callback(None)
        details = [row[3] for sql in statements if sql.lstrip().upper().startswith("SELECT")
                   for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        return page.items[0], details

    row, details = await desk.store.read(plans)
    assert (row.last_reply_id, row.last_reply_status) == (reply.id, "failed")
    probes = [d for d in details if " e " in f" {d} " or d.startswith(("SEARCH e", "SCAN e"))]
    assert probes and all("USING INDEX entries_replies" in d for d in probes), details
