"""Search finds tickets by contact name, phone in any format, email, tag and ``#id``,
besides words in messages and notes, and says which of these matched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import UK, US, Desk, customer
from hypothesis import given
from hypothesis import strategies as st

from core import contacts, queries, schema, ticket_search, writes
from core.queries import Page, TicketFilter, TicketRow
from core.search_terms import phone_in_e164, read_search_text, ticket_number
from core.store import Store

JORDAN = "+15125550133"


async def search(desk: Desk, text: str, limit: int = 50) -> list[TicketRow]:
    pages: list[Page[TicketRow]] = [
        await desk.store.read(queries.list_tickets, TicketFilter(text=text), limit=limit)
    ]
    while pages[-1].older is not None:
        pages.append(await desk.store.read(queries.list_tickets, TicketFilter(text=text),
                                           before=pages[-1].older, limit=limit))
        assert len(pages) < 100
    return [row for page in pages for row in page.items]


@pytest.fixture
async def jordan(desk: Desk) -> tuple[Desk, int, int]:
    """Jordan Reyes texts both business numbers; a stranger mentions Jordan in a text."""
    first = await desk.inbound("Where is my parcel?", from_=JORDAN, to=US)
    second = await desk.inbound("Hello again", from_=JORDAN, to=UK)
    await desk.store.write(writes.update_contact, first.ticket.contact_id, name="Jordan Reyes",
                           email="jordan@example.com")
    await desk.inbound("Jordan told me to text you", from_=customer(9))
    await desk.update(first.ticket.id, tags=["VIP", "parcel"])
    return desk, first.ticket.id, second.ticket.id


async def test_a_name_finds_every_ticket_of_the_contact_and_says_so(jordan) -> None:
    desk, first, second = jordan
    rows = await search(desk, "jordan")
    assert [row.ticket.id for row in rows[:2]] == [second, first]
    assert rows[0].matched == ("name",)
    # The stranger's text mentions the name: found by its words, after the contact's tickets.
    assert rows[2].matched == ("messages",)
    assert len(rows) == 3
    assert await desk.store.read(queries.count_tickets, TicketFilter(text="jordan")) == 3


@pytest.mark.parametrize("typed", ["+15125550133", "5125550133", "+1 512-555-0133",
                                   "(512) 555-0133", "512.555.0133"])
async def test_a_phone_in_any_format_finds_the_contact(jordan, typed: str) -> None:
    desk, first, second = jordan
    rows = await search(desk, typed)
    assert [(row.ticket.id, row.matched) for row in rows] == [
        (second, ("phone",)), (first, ("phone",))]


async def test_an_email_finds_the_contact_in_any_case(jordan) -> None:
    desk, first, second = jordan
    rows = await search(desk, "Jordan@Example.COM")
    assert [(row.ticket.id, row.matched) for row in rows] == [
        (second, ("email",)), (first, ("email",))]


async def test_a_tag_finds_its_tickets_whole_and_in_any_case(jordan) -> None:
    desk, first, _ = jordan
    assert [(r.ticket.id, r.matched) for r in await search(desk, "vip")] == [(first, ("tag",))]
    assert await search(desk, "vi") == []  # a tag matches whole, not as a prefix


async def test_a_ticket_number_finds_that_ticket(jordan) -> None:
    desk, first, _ = jordan
    rows = await search(desk, f"#{first}")
    assert [(row.ticket.id, row.matched) for row in rows] == [(first, ("number",))]
    assert await search(desk, "#99999") == []


async def test_closed_and_filtered_out_tickets_follow_the_view(jordan) -> None:
    desk, first, second = jordan
    await desk.update(second, deleted=True)
    rows = await search(desk, "Jordan Reyes")
    assert [row.ticket.id for row in rows] == [first]


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_paging_lists_each_ticket_once(desk: Desk, limit: int) -> None:
    """Six of Jordan's tickets (by name, their texts naming Jordan too) and three strangers'
    mentioning Jordan: each listed once, however the windows fall."""
    ids = []
    for _ in range(6):
        result = await desk.inbound("hi, jordan here", from_=JORDAN, to=US)
        await desk.update(result.ticket.id, status="closed")
        ids.append(result.ticket.id)
    await desk.store.write(writes.update_contact, (await desk.ticket(ids[0])).contact_id,
                           name="Jordan")
    for n in range(3):
        ids.append((await desk.inbound("ask jordan", from_=customer(n))).ticket.id)
    rows = await search(desk, "jordan", limit=limit)
    assert sorted(row.ticket.id for row in rows) == sorted(ids)
    assert len(rows) == len(ids)
    assert [row.matched for row in rows] == [("name",)] * 6 + [("messages",)] * 3


async def test_like_wildcards_are_literal(jordan) -> None:
    desk, _, _ = jordan
    assert await search(desk, "%") == []
    assert await search(desk, "_") == []


@pytest.mark.parametrize("typed", ["5125550133", "+1 512-555-0133", "(512) 555-0133"])
def test_phone_formats_read_as_one_number(typed: str) -> None:
    assert phone_in_e164(typed) == JORDAN


@pytest.mark.parametrize("typed", ["Jordan", "12", "#12", "order 12345678 please", ""])
def test_words_are_not_phones(typed: str) -> None:
    assert phone_in_e164(typed) is None


@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_hash_and_digits_is_a_ticket_number(n: int) -> None:
    assert ticket_number(f"#{n}") == n
    assert read_search_text(f" #{n} ").ticket_id == n


@given(st.text())
def test_reading_any_text_never_raises(text: str) -> None:
    read_search_text(text)


async def test_a_desk_from_before_contacts_were_searchable_is_searchable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contacts migration indexes the names and tags an older file already holds."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    before = next(i for i, sql in enumerate(schema.MIGRATIONS) if "contacts_fts" in sql)
    with monkeypatch.context() as patched:
        patched.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before])
        patched.setattr(schema, "SCHEMA_VERSION", before)
        schema.migrate(conn)
    conn.executescript("""
        INSERT INTO accounts(id, name, sid, auth_token, created_at) VALUES (1, 'A', 'AC1', 't', 0);
        INSERT INTO phone_numbers(id, account_id, e164) VALUES (1, 1, '+18885550100');
        INSERT INTO contacts(id, phone, name, created_at)
            VALUES (1, '+15125550133', 'José Reyes', 0);
        INSERT INTO tickets(id, contact_id, number_id, tags, created_at, updated_at,
                            last_message_at) VALUES (7, 1, 1, '["vip"]', 0, 0, 0);
    """)
    conn.close()
    store = await Store.open(path)
    try:
        # Its ticket is with the contact's phone, which is the contact's one phone.
        assert (await store.read(queries.ticket, 7)).customer_phone == "+15125550133"
        assert [p.e164 for p in await store.read(contacts.phones_of, 1)] == ["+15125550133"]
        for text, kind in (("jose", "name"), ("VIP", "tag"), ("512 555 0133", "phone")):
            page = await store.read(queries.list_tickets, TicketFilter(text=text))
            assert [(r.ticket.id, r.matched) for r in page.items] == [(7, (kind,))], text
        await store.write(writes.update_ticket, 7, tags=["gold"])
        await store.write(writes.update_contact, 1, name="Jordan")
        for gone in ("vip", "jose"):
            assert (await store.read(queries.list_tickets, TicketFilter(text=gone))).items == ()
    finally:
        await store.close()


async def test_a_tag_lists_its_tickets_by_their_latest_text(desk: Desk) -> None:
    """ticket_tags keeps each ticket's last activity: a new text moves it to the top."""
    older = (await desk.inbound("one", from_=customer(1))).ticket.id
    newer = (await desk.inbound("two", from_=customer(2))).ticket.id
    for ticket_id in (older, newer):
        await desk.update(ticket_id, tags=["gold"])
    assert [r.ticket.id for r in await search(desk, "gold")] == [newer, older]
    await desk.inbound("three", from_=customer(1))
    assert [r.ticket.id for r in await search(desk, "gold")] == [older, newer]
    assert [r.ticket.id for r in await search(desk, "gold", limit=1)] == [older, newer]


@pytest.mark.parametrize("lots", [0, 1, 1000])
async def test_a_common_name_walks_the_newest_and_finds_what_a_lookup_does(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, lots: int
) -> None:
    """Whether the name is common (the newest tickets are walked, or looked up when the
    walk runs dry) or rare (looked up), the same tickets come back in the same order."""
    ids = []
    for n in range(7):
        ticket = (await desk.inbound("hi", from_=customer(n))).ticket
        await desk.store.write(writes.update_contact, ticket.contact_id,
                               name=f"{'Jordan' if n % 2 else 'Maya'} Q{n}")
        ids.append(ticket.id)
    monkeypatch.setattr(ticket_search, "LOTS", lots)
    monkeypatch.setattr(ticket_search, "WALK_LIMIT", 2 if lots == 0 else 3000)
    for limit in (1, 2, 50):
        rows = await search(desk, "jord", limit=limit)
        assert [(r.ticket.id, r.matched) for r in rows] == [
            (ids[n], ("name",)) for n in (5, 3, 1)]


@pytest.mark.sqlite_only  # SQLite's query plans (EXPLAIN QUERY PLAN)
async def test_each_reading_is_an_index_look_up(desk: Desk) -> None:
    """The plans: a tag reads ticket_tags_recent in order (no sort of the tag's tickets);
    a name reads only its people's tickets (tickets_of_contact), never every ticket."""
    def plan(conn: sqlite3.Connection, sql: str) -> str:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", ["x"] * sql.count("?"))
        return " | ".join(row[3] for row in rows)

    tag = await desk.store.read(plan, "SELECT t.id FROM ticket_tags tt INDEXED BY"
                                " ticket_tags_recent JOIN tickets t ON t.id = tt.ticket_id"
                                " WHERE tt.tag = ? AND t.deleted = 0"
                                " ORDER BY tt.last_message_at DESC, tt.ticket_id DESC LIMIT 5")
    assert "ticket_tags_recent" in tag and "TEMP B-TREE" not in tag
    name = await desk.store.read(plan, "SELECT t.id FROM tickets t WHERE t.deleted = 0 AND"
                                 " t.contact_id IN (SELECT rowid FROM contacts_fts WHERE"
                                 " contacts_fts MATCH ?) ORDER BY t.last_message_at DESC")
    assert "tickets_of_contact (contact_id=?)" in name and "SCAN t" not in name


async def test_any_of_a_contacts_phones_finds_all_their_tickets(jordan) -> None:
    """After another phone joins Jordan, searching it finds Jordan's tickets (and the
    ticket that phone texted), each saying "phone"."""
    desk, first, second = jordan
    contact_id = (await desk.ticket(first)).contact_id
    await desk.store.write(contacts.add_phone, contact_id, "512-555-0177")
    third = (await desk.inbound("From home", from_="+15125550177", to=US)).ticket.id
    assert third == first  # the person's open ticket on that number
    rows = await search(desk, "(512) 555-0177")
    assert [(r.ticket.id, r.matched) for r in rows] == [
        (first, ("phone",)), (second, ("phone",))]
    assert rows[0].contact_phone == "+15125550177"  # the phone that ticket is with now


@given(st.integers(min_value=200, max_value=999), st.integers(min_value=200, max_value=999),
       st.integers(min_value=0, max_value=9999),
       st.sampled_from(["{a}{b}{c}", "{a}-{b}-{c}", "({a}) {b}-{c}", "{a}.{b}.{c}",
                        "+1 {a} {b} {c}", "1-{a}-{b}-{c}", "+1({a}){b}-{c}", " {a} {b} {c} "]))
def test_a_us_number_in_any_common_format_reads_as_one_e164(
    area: int, exchange: int, line: int, layout: str
) -> None:
    typed = layout.format(a=area, b=exchange, c=f"{line:04d}")
    assert phone_in_e164(typed.strip()) == f"+1{area}{exchange}{line:04d}", typed
    assert read_search_text(typed).phone == f"+1{area}{exchange}{line:04d}", typed
