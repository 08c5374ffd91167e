"""What the inbox knows of the relay's data: views, loaded ticket windows, names.

Why a model apart from the widgets: the ticket list of a busy desk holds
100,000 tickets, and the inbox only ever has a few windows of them. This
module decides which windows to ask for and how a live event changes what is
loaded, without any Textual or network code, so it is tested on its own.

The list is sorted as the relay sorts it: most recent activity first, i.e.
by ``(last_message_at, id)`` descending. Two loaded runs are kept: the *head*
(from the top, walked down with ``before`` cursors) and the *tail* (from the
bottom, walked up with ``after`` cursors, so ``G`` does not need every window
in between). Rows between them are not loaded; an index there draws as a
placeholder until a window arrives. A live event only ever moves a ticket to
where its new sort key puts it; if that is inside the unloaded middle, the
ticket simply leaves the loaded runs, and the middle (which is only a count)
absorbs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.ticket_search import COUNT_CAP
from tui.mail_channel import shown_phone

logger = logging.getLogger(__name__)

Row = dict[str, Any]
Fetch = Callable[..., Awaitable[Any]]  # ``client.command`` with the command's name first

WINDOW = 200  # rows per list_tickets request: one screen is ~50, a window is a few screens
RECOUNT_DELAY = 0.5  # a burst of events costs one count_tickets, not one each
OPEN_STATUSES = ("open", "pending")


@dataclass(frozen=True)
class View:
    """Which tickets the list shows; ``label`` is what the header says."""

    label: str = "Every ticket, any status"
    status: tuple[str, ...] | None = None
    group_id: int | None = None
    agent_id: int | None = None
    unassigned: bool = False
    unread: bool = False
    text: str | None = None
    deleted: bool = False  # the Trash: deleted tickets, and only those

    def args(self) -> dict[str, Any]:
        """The filter as ``list_tickets``/``count_tickets`` arguments."""
        args: dict[str, Any] = {}
        if self.status:
            args["status"] = list(self.status)
        if self.group_id is not None:
            args["group_id"] = self.group_id
        if self.agent_id is not None:
            args["agent_id"] = self.agent_id
        if self.unassigned:
            args["unassigned"] = True
        if self.unread:
            args["unread"] = True
        if self.text:
            args["text"] = self.text
        if self.deleted:
            args["deleted"] = True
        return args

    @property
    def is_search(self) -> bool:
        return bool(self.text and self.text.strip())

    def matches(self, ticket: dict[str, Any]) -> bool:
        """Whether a ticket belongs in this view, judged on the client for live events.

        A text search cannot be judged here (the relay's full-text index
        decides), so live events leave a search's results as they are.
        """
        if bool(ticket.get("deleted")) != self.deleted:
            return False
        if self.status and ticket.get("status") not in self.status:
            return False
        if self.group_id is not None and ticket.get("group_id") != self.group_id:
            return False
        if self.agent_id is not None and ticket.get("agent_id") != self.agent_id:
            return False
        if self.unassigned and ticket.get("agent_id") is not None:
            return False
        return not (self.unread and not ticket.get("unread"))


def standard_views(agent_id: int | None) -> list[View]:
    """The views every agent has; groups and statuses add theirs in the picker.

    Each is named for what it holds, status included: "All" next to "Every ticket"
    left agents guessing which one hid the resolved tickets.
    """
    views = [View("Open & pending", status=OPEN_STATUSES)]
    if agent_id is not None:
        views.append(View("Mine, open & pending", status=OPEN_STATUSES, agent_id=agent_id))
    views += [
        View("Unassigned, open & pending", status=OPEN_STATUSES, unassigned=True),
        View("Unread, any status", unread=True),
        View("Every ticket, any status"),
    ]
    return views


TRASH = View("Trash: deleted tickets", deleted=True)


def sort_key(row: Row) -> tuple[int, int]:
    ticket = row["ticket"]
    return int(ticket.get("last_message_at") or 0), int(ticket["id"])


@dataclass
class Directory:
    """Names of groups and agents, the numbers and their accounts' rules, as the relay last said.

    Every ``*.updated`` event is applied as it comes, so a number connected or a
    geo permission changed after the inbox started is known at once: the composer
    judges a reply with the relay's current rules, and a new number can be answered.
    """

    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents: dict[int, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[int, dict[str, Any]] = field(default_factory=dict)  # sending rules only
    # Days a ticket stays in the Trash before the relay purges it; None: until emptied.
    trash_retention_days: int | None = None

    def group(self, group_id: int | None) -> str:
        if group_id is None:
            return ""
        found = self.groups.get(group_id)
        return str(found["name"]) if found else f"group {group_id}"

    def agent(self, agent_id: int | None) -> str:
        if agent_id is None:
            return ""
        found = self.agents.get(agent_id)
        return str(found["name"]) if found else f"agent {agent_id}"

    def load(self, groups: list[dict[str, Any]], agents: list[dict[str, Any]],
             numbers: list[dict[str, Any]]) -> None:
        self.groups = {g["id"]: g for g in groups}
        self.agents = {a["id"]: a for a in agents}
        self.load_numbers(numbers)

    def load_numbers(self, numbers: list[dict[str, Any]]) -> None:
        """``list_numbers``' answer: each number with its account's rules nested."""
        self.numbers = {n["id"]: n for n in numbers}
        self.accounts.update({n["account"]["id"]: n["account"] for n in numbers
                              if n.get("account")})

    def missing_accounts(self) -> bool:
        """Whether a number arrived whose account's rules are unknown (reload the numbers)."""
        return any(not number.get("account") for number in self.numbers.values())

    def apply(self, event: dict[str, Any]) -> bool:
        """Take an admin event in; True when something the inbox shows or judges changed."""
        payload = event.get("payload") or {}
        kind = event.get("kind")
        if kind == "group.updated" and "group" in payload:
            self.groups[payload["group"]["id"]] = payload["group"]
        elif kind == "agent.updated" and "agent" in payload:
            self.agents[payload["agent"]["id"]] = payload["agent"]
        elif kind == "account.updated" and "account" in payload:
            self._account_changed(payload["account"])
        elif kind == "number.updated" and "number" in payload:
            number = payload["number"]
            # Events carry the number alone; its account's rules are the ones we know.
            account = self.accounts.get(number.get("account_id")) \
                or self.numbers.get(number["id"], {}).get("account")
            self.numbers[number["id"]] = {**number, "account": account} \
                if "account" not in number and account else number
        elif kind == "trash.retention_set":
            self.trash_retention_days = payload.get("days")
        else:
            return False
        return True

    def _account_changed(self, account: dict[str, Any]) -> None:
        rules = {k: v for k, v in account.items() if k not in ("auth_token", "auth_token_hint")}
        self.accounts[rules["id"]] = rules
        for number_id, number in self.numbers.items():
            if number.get("account_id") == rules["id"]:
                self.numbers[number_id] = {**number, "account": rules}


#: What a search can match, in the order the search box names them (docs/protocol.md).
MATCH_KINDS = ("number", "name", "phone", "email", "tag", "messages")


def opt_out_fields(ticket: dict[str, Any], contact: dict[str, Any],
                   blocked: list[int] | None) -> dict[str, Any]:
    """A row's opt-out, per business number (a STOP blocks the number it was sent to): for
    the ticket's own number, and the list of every number the contact is opted out from.
    An event without the list (an older relay) says it for the contact as a whole."""
    if blocked is None:
        return {"contact_opted_out": bool(contact.get("opted_out"))}
    return {"contact_opted_out": ticket.get("number_id") in blocked,
            "contact_opted_out_number_ids": list(blocked)}


class TicketListModel:
    """The current view's tickets as the list widget sees them (``TicketSource``).

    ``fetch(name, **args)`` runs a relay command (the client's ``command``);
    ``on_change()`` is called whenever rows or the total changed, so the
    widget can redraw. Loading is asynchronous and never blocks the caller.
    """

    def __init__(self, fetch: Fetch, on_change: Callable[[], None] = lambda: None, *,
                 window: int = WINDOW) -> None:
        self._fetch = fetch
        self._on_change = on_change
        self._window = window
        self.view = View()
        self.head: list[Row] = []
        self.tail: list[Row] = []
        self._head_older: str | None = None  # cursor below the head; None: nothing below
        self._head_done = False  # the head reaches the bottom: every row is loaded
        self._tail_newer: str | None = None  # cursor above the tail
        self._total = 0
        self._generation = 0  # bumped by each switch: stale answers are dropped
        self._loading: asyncio.Task[None] | None = None
        self._recount: asyncio.TimerHandle | None = None
        self._wanted: tuple[int, int] = (0, 0)
        self.error: str | None = None  # the last load error, in words
        self.loaded = False  # the current view's first window has arrived
        self._early: list[dict[str, Any]] = []  # events that came while it was on its way

    @property
    def in_trash(self) -> bool:
        """Whether the view is the Trash: the list then shows who deleted what, and when."""
        return self.view.deleted

    # --- TicketSource ---------------------------------------------------------------

    @property
    def total(self) -> int:
        loaded = len(self.head) + len(self.tail)
        if self._counted_past_cap():
            loaded += 1  # a row still to load: scrolling onto it loads the next window
        return max(self._total, loaded)

    @property
    def counted(self) -> tuple[int, bool]:
        """What the header says: how many tickets, and whether there are more than that.

        The relay counts a search's tickets up to COUNT_CAP and answers one more when there
        are more ("1,000+ tickets match"); once the rows loaded pass the cap, they are the
        figure, until the last window says how many there are in all.
        """
        if self._counted_past_cap():
            return max(COUNT_CAP, len(self.head) + len(self.tail)), True
        return self.total, False

    def _counted_past_cap(self) -> bool:
        """A search whose count stopped at the cap, not all of whose rows are loaded."""
        return self.view.is_search and self._total > COUNT_CAP and not self._head_done

    def row(self, index: int) -> Row | None:
        if index < 0 or index >= self.total:
            return None
        if index < len(self.head):
            return self.head[index]
        from_tail = index - (self.total - len(self.tail))
        if from_tail >= 0:
            return self.tail[from_tail]
        return None

    def matched(self) -> list[str]:
        """In a search: which readings of the text found the loaded rows (the relay's
        ``matched``: number, name, phone, email, tag, messages), in that order."""
        found = {kind for run in (self.head, self.tail) for row in run
                 for kind in row.get("matched") or ()}
        return [kind for kind in MATCH_KINDS if kind in found]

    def index_of(self, ticket_id: int) -> int | None:
        for i, row in enumerate(self.head):
            if row["ticket"]["id"] == ticket_id:
                return i
        for i, row in enumerate(self.tail):
            if row["ticket"]["id"] == ticket_id:
                return self.total - len(self.tail) + i
        return None

    def request(self, first: int, last: int) -> None:
        """Rows ``first..last`` are on screen (or about to be): load what is missing."""
        self._wanted = (max(0, first), max(0, last))
        if self._missing() and (self._loading is None or self._loading.done()):
            self._loading = asyncio.get_running_loop().create_task(self._load_wanted())

    # --- views --------------------------------------------------------------------

    async def switch(self, view: View) -> None:
        """Show another view: count it and load its first window."""
        self._generation += 1
        generation = self._generation
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self.view = view
        self.head, self.tail = [], []
        self._head_older, self._tail_newer = None, None
        self._head_done = False
        self._total = 0
        self.error = None
        self.loaded = False
        self._early = []
        self._on_change()
        try:
            total, page = await asyncio.gather(
                self._fetch("count_tickets", **view.args()),
                self._fetch("list_tickets", **view.args(), limit=self._window),
            )
        except Exception as error:
            self.error = str(error)
            self._on_change()
            return
        if generation != self._generation:
            return
        self._total = int(total)
        self._take_head(page)
        self.loaded = True
        early, self._early = self._early, []
        for event in early:  # they may be newer than the answer: place them again
            self._apply(event, counted=False)
        if early:
            self._schedule_recount()  # the count may or may not have included them
        self._on_change()

    async def reload(self) -> None:
        await self.switch(self.view)

    # --- live events ----------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> bool:
        """Take a relay event in; True when the loaded rows changed."""
        if not self.loaded:
            # The first window is on its way and may predate this event: keep
            # it, and place it once the window is in (else it would be lost).
            self._early.append(event)
            return False
        return self._apply(event, counted=True)

    def _apply(self, event: dict[str, Any], *, counted: bool) -> bool:
        payload = event.get("payload") or {}
        kind = event.get("kind")
        if kind in ("contact.updated", "contact.merged") and "contact" in payload:
            return self._update_contact(payload)
        if kind == "tickets.purged":
            return self._forget(payload.get("ticket_ids") or [], counted=counted)
        message = payload.get("message")
        replied = isinstance(message, dict) and message.get("direction") == "outbound" \
            and self._note_reply(message)
        ticket = payload.get("ticket")
        if not isinstance(ticket, dict):
            if replied:
                self._on_change()
            return replied
        if self.view.is_search:
            return self._update_in_place(ticket)
        existing = self._take_out(ticket["id"])
        if existing is not None:
            row = {**existing, "ticket": ticket}
        elif kind == "ticket.created" and "contact" in payload:
            contact = payload["contact"]
            row = {"ticket": ticket, "contact_name": contact.get("name", ""),
                   "contact_phone": ticket.get("customer_phone")
                   or shown_phone(contact.get("phone")),
                   "contact_email": contact.get("email") or "",
                   "contact_opted_out": bool(contact.get("opted_out"))}
        else:
            # A ticket we had not loaded: its place is known, its contact is not
            # yet; the row shows at once and the contact fills in on a refresh.
            row = {"ticket": ticket, "contact_name": "", "contact_phone": "",
                   "contact_opted_out": False, "partial": True}
        matches = self.view.matches(ticket)
        if not counted:
            pass  # the recount after the first window settles the total
        elif kind == "ticket.created" and matches:
            self._total += 1
        elif existing is not None and not matches:
            self._total -= 1
        elif existing is None and kind != "ticket.created":
            self._schedule_recount()  # it may have entered or left the view unseen
        if row is not None and matches:
            self._place(row)
            if row.get("partial"):
                self._schedule_recount()
        self._on_change()
        return True

    def _note_reply(self, message: dict[str, Any]) -> bool:
        """Keep each row's newest reply and its status (a failed one is flagged in the list)."""
        for run in (self.head, self.tail):
            for i, row in enumerate(run):
                if row["ticket"]["id"] != message.get("ticket_id"):
                    continue
                if (row.get("last_reply_id") or 0) > message["id"]:
                    return False  # an older reply's late news
                run[i] = {**row, "last_reply_id": message["id"],
                          "last_reply_status": message.get("status")}
                return True
        return False

    def _update_in_place(self, ticket: dict[str, Any]) -> bool:
        for run in (self.head, self.tail):
            for i, row in enumerate(run):
                if row["ticket"]["id"] == ticket["id"]:
                    run[i] = {**row, "ticket": ticket}
                    self._on_change()
                    return True
        return False

    def _update_contact(self, payload: dict[str, Any]) -> bool:
        changed = False
        for run in (self.head, self.tail):
            for i, row in enumerate(run):
                if is_about(row, payload):
                    run[i] = with_contact(row, payload)
                    changed = True
        if changed:
            self._on_change()
        return changed

    def _forget(self, ticket_ids: list[int], *, counted: bool) -> bool:
        """Purged tickets are gone for good: out of every loaded run, and out of the count."""
        removed = [i for i in ticket_ids if self._take_out(i) is not None]
        if counted:
            self._total -= len(removed)
            if len(removed) < len(ticket_ids) and self.view.deleted:
                self._schedule_recount()  # some were in the Trash's unloaded middle
        if removed:
            self._on_change()
        return bool(removed)

    def _take_out(self, ticket_id: int) -> Row | None:
        for run in (self.head, self.tail):
            for i, row in enumerate(run):
                if row["ticket"]["id"] == ticket_id:
                    return run.pop(i)
        return None

    def _place(self, row: Row) -> None:
        """Put a row where its sort key says, if that is inside a loaded run."""
        key = sort_key(row)
        head = self.head
        position = _descending_position(head, key)
        if position < len(head) or self._head_done or not self._has_middle():
            head.insert(position, row)
            return
        tail = self.tail
        if tail and key <= sort_key(tail[0]):
            tail.insert(_descending_position(tail, key), row)
        # otherwise it falls in the unloaded middle, which is only a count

    def _has_middle(self) -> bool:
        return self.total > len(self.head) + len(self.tail) or bool(self.tail)

    def _schedule_recount(self) -> None:
        if self._recount is not None:
            return
        loop = asyncio.get_running_loop()
        self._recount = loop.call_later(RECOUNT_DELAY, self._start_recount)

    def _start_recount(self) -> None:
        self._recount = None
        asyncio.get_running_loop().create_task(self._count())

    async def _count(self) -> None:
        """Correct the total, and fill in rows that arrived by event without their contact."""
        generation = self._generation
        partial = [row["ticket"]["id"] for row in self.head + self.tail if row.get("partial")]
        try:
            total = await self._fetch("count_tickets", **self.view.args())
            top = await self._fetch("list_tickets", **self.view.args(),
                                    limit=self._window) if partial else None
        except Exception as error:
            logger.info("recount failed: %s", error)
            return
        if generation != self._generation:
            return
        fresh = {row["ticket"]["id"]: row for row in (top or {}).get("items") or []}
        for run in (self.head, self.tail):
            for i, row in enumerate(run):
                found = fresh.get(row["ticket"]["id"])
                if row.get("partial") and found is not None:
                    run[i] = {**found, "ticket": row["ticket"]}
        self._total = int(total)
        self._on_change()

    # --- loading ---------------------------------------------------------------------

    def _missing(self) -> bool:
        first, last = self._wanted
        last = min(last, self.total - 1)
        if last < first or self._head_done:
            return False
        tail_start = self.total - len(self.tail)
        return any(self.row(i) is None for i in (first, last)) or (
            first < tail_start and last >= len(self.head)
        )

    async def _load_wanted(self) -> None:
        """Walk windows towards the wanted rows, from whichever run is nearer."""
        generation = self._generation
        try:
            while generation == self._generation and self._missing():
                first, last = self._wanted
                below_head = first - len(self.head)
                above_tail = (self.total - len(self.tail)) - last
                if self._head_older is None and not self.head:
                    return
                if below_head <= above_tail or self._head_older is None:
                    await self._extend_head(generation)
                else:
                    await self._extend_tail(generation)
        except Exception as error:
            self.error = str(error)
            self._on_change()

    async def _extend_head(self, generation: int) -> None:
        if self._head_older is None:
            self._head_done = True
            return
        page = await self._fetch("list_tickets", **self.view.args(), before=self._head_older,
                                 limit=self._window)
        if generation != self._generation:
            return
        self._take_head(page)
        self._on_change()

    async def _extend_tail(self, generation: int) -> None:
        if self.view.is_search:  # a search pages downward only
            await self._extend_head(generation)
            return
        if not self.tail:
            page = await self._fetch("list_tickets", **self.view.args(), after="0.0",
                                     limit=self._window)
        else:
            page = await self._fetch("list_tickets", **self.view.args(),
                                     after=self._tail_newer, limit=self._window)
        if generation != self._generation:
            return
        items = list(page.get("items") or [])
        seen = {row["ticket"]["id"] for row in self.head}
        known_tail = {row["ticket"]["id"] for row in self.tail}
        fresh = [row for row in items if row["ticket"]["id"] not in known_tail]
        meets_head = any(row["ticket"]["id"] in seen for row in fresh)
        fresh = [row for row in fresh if row["ticket"]["id"] not in seen]
        self.tail = fresh + self.tail
        self._tail_newer = page.get("newer") or (
            _cursor(self.tail[0]) if self.tail else None)
        if meets_head or page.get("newer") is None:
            self._join_runs()
        self._on_change()

    def _take_head(self, page: dict[str, Any]) -> None:
        items = list(page.get("items") or [])
        tail_ids = {row["ticket"]["id"] for row in self.tail}
        met = any(row["ticket"]["id"] in tail_ids for row in items)
        known = {row["ticket"]["id"] for row in self.head} | tail_ids
        self.head.extend(row for row in items if row["ticket"]["id"] not in known)
        self._head_older = page.get("older")
        if met:
            self._join_runs()
        elif self._head_older is None:
            self._head_done = True
            self.head.extend(self.tail)
            self.tail = []
            self._total = len(self.head)

    def _join_runs(self) -> None:
        """The two runs touch: one run, everything loaded."""
        merged = {row["ticket"]["id"]: row for row in self.head + self.tail}
        self.head = sorted(merged.values(), key=sort_key, reverse=True)
        self.tail = []
        self._head_older = None
        self._head_done = True
        self._total = len(self.head)


def _descending_position(run: list[Row], key: tuple[int, int]) -> int:
    """Where ``key`` goes in a run sorted by sort_key descending (binary search)."""
    low, high = 0, len(run)
    while low < high:
        middle = (low + high) // 2
        if sort_key(run[middle]) > key:
            low = middle + 1
        else:
            high = middle
    return low


def _cursor(row: Row) -> str:
    ticket = row["ticket"]
    return f"{ticket.get('last_message_at') or 0}.{ticket['id']}"


@dataclass
class ThreadState:
    """The open ticket's loaded entries, oldest first."""

    ticket_id: int
    entries: list[dict[str, Any]] = field(default_factory=list)
    older: str | None = None
    loading_older: bool = False

    def upsert(self, entry: dict[str, Any]) -> bool:
        """A new or changed entry; False when it is older than what is loaded."""
        for i, existing in enumerate(self.entries):
            if existing["id"] == entry["id"] and _is_note(existing) == _is_note(entry):
                self.entries[i] = {**existing, **entry}
                return True
        if self.entries and entry["id"] < self.entries[0]["id"] and self.older is not None:
            return False
        self.entries.append(entry)
        self.entries.sort(key=lambda e: e["id"])
        return True


def _is_note(entry: dict[str, Any]) -> bool:
    return "direction" not in entry


def with_view_text(view: View, text: str | None) -> View:
    """The same view searched for ``text`` (or not searched, for None/empty)."""
    text = (text or "").strip() or None
    label = view.label if text is None else f"Search: {text}"
    return replace(view, text=text, label=label)


def is_about(row: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether a ``contact.updated`` or ``contact.merged`` event concerns a row's ticket."""
    contact_id = row["ticket"].get("contact_id")
    return contact_id == (payload.get("contact") or {}).get("id") \
        or (contact_id is not None and contact_id == payload.get("merged_id"))


def with_contact(row: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """A row as a contact event leaves it: the person's name (and, after a merge, the kept
    contact's id), and the STOP state of the row's own phone, since a contact may have
    several phones and each keeps its own."""
    contact = payload.get("contact") or {}
    phone = row.get("contact_phone") or shown_phone(contact.get("phone"))
    changed = {**row, "ticket": {**row["ticket"], "contact_id": contact.get("id")},
               "contact_name": contact.get("name", ""), "contact_phone": phone}
    if "phone" in payload:  # a STOP or START from one phone, for one number or all
        if payload["phone"] == phone:
            changed.update(opt_out_fields(row["ticket"], {"opted_out": payload.get(
                "phone_opted_out")}, payload.get("opted_out_number_ids")))
    elif "phones" in payload:
        for known in payload["phones"]:
            if known.get("e164") == phone:
                changed.update(opt_out_fields(row["ticket"], known,
                                              known.get("opted_out_number_ids")))
    elif phone == contact.get("phone"):
        changed["contact_opted_out"] = bool(contact.get("opted_out"))
    return changed
