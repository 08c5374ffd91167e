"""The whole inbox as an agent sees it, pinned as SVG snapshots.

Why canned data and not a live relay: ``snap_compare`` runs the app on its own
event loop, and a snapshot must be the same picture on every run. So the app
gets a ``CannedClient`` that answers every command from fixed data with fixed
timestamps, the clock is pinned (``render.clock``, ``render.timezone``), and
each snapshot waits until what it shows has fully arrived (rows, thread,
picture) before the screenshot is taken.

Regenerate after an intended change with
``.venv/bin/pytest tests/test_tui_snapshots.py --snapshot-update`` and look at
the SVGs before accepting them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
from desk_harness import until
from PIL import Image
from textual import events
from textual.pilot import Pilot

from core.sms import analyze
from tui.app import InboxApp
from tui.client import CommandError, ConnectionState, RelayClient
from tui.config import Config
from tui.screens.contact import ContactScreen
from tui.screens.help import HelpScreen
from tui.screens.pickers import ChoiceScreen
from tui.widgets import render

# textual-image reads pixels with a Pillow call deprecated for Pillow 14; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")

SIZE = (140, 42)
TALL = (140, 60)  # the whole six-entry thread fits under the list without scrolling
NOW = int(datetime(2024, 11, 20, 12, 0, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

AGENT = {"id": 1, "name": "Ada", "role": "admin", "group_ids": [1, 2], "disabled": False}
GROUPS = [{"id": 1, "name": "Billing"}, {"id": 2, "name": "Shipping"}]
AGENTS = [
    AGENT,
    {"id": 2, "name": "Sam Rivera", "role": "agent", "group_ids": [1, 2], "disabled": False},
    {"id": 3, "name": "Bo", "role": "agent", "group_ids": [2], "disabled": False},
]
ACCOUNT = {"id": 1, "name": "Acme", "sid": "AC" + "1" * 32,
           "geo_permissions": ["US", "CA", "GB"], "status": "active", "type": "Full",
           "connected": True}
US, UK = 1, 2
NUMBERS = [
    {"id": US, "account_id": 1, "e164": "+18885550100", "sid": "PN" + "a" * 32, "mms": True,
     "status": "active", "sender_type": "toll_free", "country": "US", "a2p_registered": False,
     "default_group_id": 1, "csat": False, "enabled": True, "friendly_name": "US toll-free",
     "account": ACCOUNT},
    {"id": UK, "account_id": 1, "e164": "+447400900456", "sid": "PN" + "b" * 32, "mms": False,
     "status": "active", "sender_type": "long_code", "country": "GB", "a2p_registered": False,
     "default_group_id": 2, "csat": False, "enabled": True, "friendly_name": "UK",
     "account": ACCOUNT},
]

UCS2_TEXT = ("Still nothing here 😕 the courier says it was left with a neighbour but nobody"
             " has it. Can you check? 🙏")
DRAFT = "We’re on it 🚚"  # a curly apostrophe and an emoji: UCS-2 either way


def _png() -> bytes:
    """A small deterministic picture: halfcell rendering of it is the same on every run."""
    image = Image.new("RGB", (24, 12))
    image.putdata([(x * 10, y * 20, 160 if (x // 4 + y // 4) % 2 else 40)
                   for y in range(12) for x in range(24)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PNG = _png()
PNG_SHA = hashlib.sha256(PNG).hexdigest()


def _ticket(ticket_id: int, contact_id: int, *, status: str = "open", priority: str = "low",
            group: int | None = 1, agent: int | None = None, unread: bool = False,
            ago: int, preview: str, number: int = US, tags: tuple[str, ...] = ()
            ) -> dict[str, Any]:
    at = NOW - ago
    return {"id": ticket_id, "contact_id": contact_id, "number_id": number, "subject": "",
            "status": status, "priority": priority, "type": "", "group_id": group,
            "agent_id": agent, "tags": list(tags), "custom_fields": {}, "unread": unread,
            "deleted": False, "created_at": at - DAY, "updated_at": at,
            "last_message_at": at, "last_preview": preview}


# (contact id, name, phone, opted out); "" names show as bare numbers.
CONTACTS = {
    1: ("Maya Patel", "+14155550142", False),
    2: ("Tom Hughes", "+447400900123", False),
    3: ("Ana Souza", "+12125550187", True),
    4: ("Jordan Lee", "+13125550164", False),
    5: ("Priya Raman", "+16175550199", False),
    6: ("", "+15125550133", False),
    7: ("", "+447400123456", False),
    8: ("Li Wei", "+16465550111", False),
    9: ("", "+12065550177", False),
    10: ("Omar Haddad", "+13055550123", False),
    11: ("Sofia Rossi", "+447911123456", False),
    12: ("", "+17185550190", False),
    13: ("Grace Kim", "+14045550166", False),
}

TICKETS = [
    _ticket(112, 1, priority="high", agent=1, unread=True, ago=5 * MINUTE, preview=UCS2_TEXT,
            tags=("damaged",)),
    _ticket(111, 5, unread=True, ago=12 * MINUTE,
            preview="Hi! Is the blue hoodie back in stock in size M?"),
    _ticket(110, 6, status="pending", priority="medium", agent=2, ago=40 * MINUTE,
            preview="Hi there, I ordered a desk lamp last week (order #4431) and it came with"
                    " the wrong plug for my outlets."),
    _ticket(109, 2, group=2, agent=3, ago=2 * HOUR, number=UK,
            preview="Brilliant, cheers! Is there any parking nearby?"),
    _ticket(108, 3, status="pending", ago=3 * HOUR, preview="STOP"),
    _ticket(107, 7, priority="urgent", group=2, unread=True, ago=5 * HOUR, number=UK,
            preview="Hiya, tracking says my parcel was delivered but it isn't here 😕"),
    _ticket(106, 4, priority="high", agent=1, ago=9 * HOUR,
            preview="Can I change the delivery address on order #4420?"),
    _ticket(105, 8, group=None, ago=DAY + HOUR, preview="Do you ship to Canada?"),
    _ticket(104, 9, status="pending", priority="medium", agent=2, unread=True, ago=2 * DAY,
            preview="ok thanks"),
    _ticket(103, 10, priority="low", group=None, ago=3 * DAY,
            preview="What are your opening hours on Saturday?"),
    _ticket(102, 11, status="pending", group=2, agent=3, ago=9 * DAY, number=UK,
            preview="I'll be at home all week, any day works."),
    _ticket(101, 12, priority="medium", ago=40 * DAY, preview="Is the warranty two years?"),
    _ticket(100, 13, status="resolved", agent=1, ago=50 * DAY, preview="Got it, thank you!"),
    _ticket(99, 1, status="closed", agent=2, ago=70 * DAY, preview="Perfect."),
]


# Maya's tickets the open list does not show: one on the UK number, one in the trash.
EARLIER = [
    {**_ticket(80, 1, status="resolved", ago=120 * DAY, number=UK,
               preview="Thanks, the exchange arrived.")},
    {**_ticket(61, 1, status="closed", ago=200 * DAY, preview="Wrong size, can I swap it?"),
     "deleted": True},
]


def _message(entry_id: int, ago: int, direction: str, body: str, **fields: Any) -> dict[str, Any]:
    cost = analyze(body)
    message = {"id": entry_id, "ticket_id": 112, "direction": direction, "channel": "sms",
               "body": body, "media": [], "author_agent_id": None,
               "twilio_sid": f"SM{entry_id:032x}", "status": "received", "error_code": None,
               "segments": cost.segments, "encoding": cost.encoding,
               "created_at": NOW - ago, "updated_at": NOW - ago}
    message.update(fields)
    return message


THREAD = [
    _message(501, 3 * HOUR, "inbound",
             "Hi, my order #4417 arrived damaged. Can I get a replacement?"),
    _message(502, 2 * HOUR + 50 * MINUTE, "outbound",
             "So sorry to hear that, Maya! Could you send us a photo of the box?",
             author_agent_id=2, status="delivered"),
    {"id": 503, "ticket_id": 112, "agent_id": 1, "created_at": NOW - 2 * HOUR,
     "body": "Checked with the warehouse: replacement stock arrives Friday."},
    _message(504, HOUR, "inbound", "Here is a photo of the box", channel="mms",
             media=[{"content_type": "image/png", "size": len(PNG), "sha256": PNG_SHA,
                     "filename": "box.png", "twilio_url": ""}]),
    _message(505, 40 * MINUTE, "outbound", "Thanks! A replacement is on its way.",
             author_agent_id=1, status="undelivered", error_code=30003),
    _message(506, 5 * MINUTE, "inbound", UCS2_TEXT),
]
assert THREAD[-1]["segments"] == 2 and THREAD[-1]["encoding"] == "UCS-2"


def _row(ticket: dict[str, Any]) -> dict[str, Any]:
    name, phone, opted_out = CONTACTS[ticket["contact_id"]]
    return {"ticket": dict(ticket), "contact_name": name, "contact_phone": phone,
            "contact_opted_out": opted_out}


def _matches(ticket: dict[str, Any], args: dict[str, Any]) -> bool:
    """The relay's list filters, as far as these snapshots use them."""
    checks = [
        not args.get("status") or ticket["status"] in args["status"],
        "group_id" not in args or ticket["group_id"] == args["group_id"],
        "agent_id" not in args or ticket["agent_id"] == args["agent_id"],
        not args.get("unassigned") or ticket["agent_id"] is None,
        not args.get("unread") or ticket["unread"],
    ]
    return all(checks)


class CannedClient(RelayClient):
    """A relay that is always there and always says the same: answers from the data above.

    Unknown commands fail loudly (``CommandError``), so a snapshot never hides
    a command the inbox started to need.
    """

    def __init__(self, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url, token, **kwargs)
        self.tickets = {t["id"]: dict(t) for t in TICKETS}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.presence: list[tuple[int | None, str]] = []
        self._seq = 1000
        self._closed = asyncio.Event()

    async def run(self) -> None:
        self.agent = dict(AGENT)
        self.state, self.detail = ConnectionState.LIVE, "connected as Ada"
        self._on_state(ConnectionState.LIVE, "connected as Ada")
        await self._closed.wait()

    async def close(self) -> None:
        self.state, self.detail = ConnectionState.CLOSED, "disconnected"
        self._closed.set()

    def announce(self, ticket_id: int | None, activity: str = "viewing") -> None:
        self.presence.append((ticket_id, activity))

    async def command(self, name: str, *, timeout: float | None = None,
                      command_id: str | None = None, **args: Any) -> Any:
        self.calls.append((name, args))
        answer = getattr(self, f"_{name}", None)
        if answer is None:
            raise CommandError("unknown_command", f"the canned relay does not know {name}")
        return answer(args)

    def _list_groups(self, args: dict[str, Any]) -> Any:
        return GROUPS

    def _list_agents(self, args: dict[str, Any]) -> Any:
        return AGENTS

    def _list_numbers(self, args: dict[str, Any]) -> Any:
        return NUMBERS

    def _get_trash_retention(self, args: dict[str, Any]) -> Any:
        return {"days": 30}

    def _view(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        found = [t for t in self.tickets.values() if _matches(t, args)]
        return sorted(found, key=lambda t: (t["last_message_at"], t["id"]), reverse=True)

    def _count_tickets(self, args: dict[str, Any]) -> Any:
        return len(self._view(args))

    def _list_tickets(self, args: dict[str, Any]) -> Any:
        rows = [_row(t) for t in self._view(args)[: args.get("limit", 50)]]
        return {"items": rows, "older": None, "newer": None}

    def _get_thread(self, args: dict[str, Any]) -> Any:
        ticket = self.tickets[args["ticket_id"]]
        if ticket["id"] == 112:
            return {"items": THREAD, "older": None, "newer": None}
        only = _message(ticket["id"] * 10, NOW - ticket["last_message_at"], "inbound",
                        ticket["last_preview"], ticket_id=ticket["id"])
        return {"items": [only], "older": None, "newer": None}

    def _mark_read(self, args: dict[str, Any]) -> Any:
        """As the relay does: the change comes back as an event, so the list updates."""
        ticket = self.tickets[args["ticket_id"]]
        ticket["unread"] = False
        self._seq += 1
        self._on_event({"type": "event", "seq": self._seq, "kind": "ticket.updated",
                        "ticket_id": ticket["id"], "at": NOW,
                        "payload": {"ticket": dict(ticket), "changed": ["unread"]}})
        return dict(ticket)

    def _my_timer(self, args: dict[str, Any]) -> Any:
        return {"timer": None}

    def _ticket_time(self, args: dict[str, Any]) -> Any:
        return {"entries": [], "total_seconds": 0, "billable_seconds": 0}
    def _get_contact(self, args: dict[str, Any]) -> Any:
        name, phone, opted_out = CONTACTS[args["contact_id"]]
        return {"contact": {"id": args["contact_id"], "phone": phone, "name": name,
                            "email": "maya.patel@example.com" if args["contact_id"] == 1 else "",
                            "note": "Prefers texts after 5pm." if args["contact_id"] == 1 else "",
                            "opted_out": opted_out, "created_at": NOW - 90 * DAY},
                # Maya was merged with her home phone's contact, which said STOP.
                "phones": [{"e164": phone, "opted_out": opted_out, "added_at": 0}] + (
                    [{"e164": "+15125550177", "opted_out": True, "added_at": 0}]
                    if args["contact_id"] == 1 else []),
                "opt_out_history": []}

    def _contact_tickets(self, args: dict[str, Any]) -> Any:
        """Every ticket of the person, any number, closed and deleted ones too."""
        found = [t for t in self.tickets.values() if t["contact_id"] == args["contact_id"]]
        found += [t for t in EARLIER if t["contact_id"] == args["contact_id"]]
        found.sort(key=lambda t: (t["last_message_at"], t["id"]), reverse=True)
        numbers = {n["id"]: n["e164"] for n in NUMBERS}
        return {"items": [{"ticket": dict(t), "number": numbers[t["number_id"]]} for t in found],
                "older": None, "newer": None}

    def _fetch_media(self, args: dict[str, Any]) -> Any:
        if args["sha256"] != PNG_SHA:
            raise CommandError("not_found", "no such media")
        return {"sha256": PNG_SHA, "size": len(PNG),
                "data": base64.b64encode(PNG).decode("ascii")}


# -- driving the app -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "clock", lambda: NOW)
    monkeypatch.setattr(render, "timezone", UTC)


def inbox_app() -> InboxApp:
    return InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                    client_class=CannedClient)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    """Type as a terminal would deliver it: ``Pilot.press`` drops the character of keys
    like "’" or "🚚" (it cannot map their key names back), so those are posted as the
    Key events the terminal parser makes, one character each."""
    for char in text:
        if char.isascii():
            await pilot.press(char)
        else:
            pilot.app.post_message(
                events.Key(unicodedata.name(char).lower().replace(" ", "_"), char))
            await pilot.pause()


def _client(app: InboxApp) -> CannedClient:
    assert isinstance(app.client, CannedClient)
    return app.client


async def listed(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, InboxApp)
    model = app.inbox.model
    await until(pilot, lambda: model.total == 12 and all(model.row(i) for i in range(12))
                and app.inbox.header.state == "live", "the twelve open tickets")
    await pilot.pause()


async def opened(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    app = pilot.app
    assert isinstance(app, InboxApp)
    await pilot.press("enter")
    inbox = app.inbox
    await until(pilot, lambda: len(inbox.thread.entries) == len(THREAD)
                and PNG_SHA in inbox.thread.media and inbox.composer.context is not None
                and not inbox.model.row(0)["ticket"]["unread"], "the thread, its photo, read")
    await pilot.pause()


def _no_toasts(app: InboxApp) -> None:
    """A toast would mean something went wrong; it would also fade at a random moment."""
    assert not list(app._notifications), [n.message for n in app._notifications]


# -- the snapshots ---------------------------------------------------------------------------


def test_inbox_after_start(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        _no_toasts(app)
        assert app.inbox.thread.ticket_id is None

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
    assert [name for name, _ in _client(app).calls[:3]] == [
        "list_groups", "list_agents", "list_numbers"]


def test_ticket_opened(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        _no_toasts(app)

    assert snap_compare(app, terminal_size=TALL, run_before=before)
    client = _client(app)
    assert ("mark_read", {"ticket_id": 112}) in client.calls
    assert client.presence == [(112, "viewing")]


def test_composing_a_ucs2_reply(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("r")
        await type_text(pilot, DRAFT)
        composer = app.inbox.composer
        await until(pilot, lambda: composer.text == DRAFT, "the draft")
        await pilot.pause()
        _no_toasts(app)

    assert snap_compare(app, terminal_size=TALL, run_before=before)
    assert _client(app).presence[-1] == (112, "replying")


def test_ticket_opened_at_80_by_24(snap_compare: Any) -> None:
    """The smallest usual terminal: the message column stays readable (once 15 cells)."""
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("enter")
        inbox = app.inbox
        await until(pilot, lambda: len(inbox.thread.entries) == len(THREAD)
                    and inbox.composer.context is not None
                    and not inbox.model.row(0)["ticket"]["unread"], "the thread, read")
        await pilot.pause()
        _no_toasts(app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_help_screen(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_status_picker(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the status picker")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_contact_view(snap_compare: Any) -> None:
    """C on a ticket: the person, then every ticket of theirs on any number, newest first."""
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ContactScreen) and app.screen.loaded,
                    "the contact view")
        await pilot.pause()
        _no_toasts(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
    assert ("contact_tickets", {"contact_id": 1, "limit": 100}) in _client(app).calls


# -- what the snapshots showed to be wrong once, kept from coming back -------------------------


async def test_an_opened_thread_shows_its_newest_entry() -> None:
    """The composer enabling shrinks the thread: the newest entry must stay in view."""
    app = inbox_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot)
        thread = app.inbox.thread
        assert thread.max_scroll_y > 0
        assert thread.scroll_y == thread.max_scroll_y


async def test_r_on_the_list_opens_the_ticket_and_starts_the_reply() -> None:
    """r before Enter opens the ticket, then starts the reply (it needs the ticket's number)."""
    app = inbox_app()
    async with app.run_test(size=SIZE) as pilot:
        await listed(pilot)
        await pilot.press("r")
        await until(pilot, lambda: app.inbox.composer.context is not None, "the ticket")
        _no_toasts(app)
        assert app.focused is not None and app.inbox.composer in app.focused.ancestors


async def test_the_demo_says_how_to_text_it_in_a_welcome_toast() -> None:
    """The demo's ports are random: the inbox itself tells the newcomer the command."""
    line = 'smsdesk sim text --from +14155550100 --to +18885550100 "Hello!"'
    app = InboxApp(Config(relay="ws://127.0.0.1:9/ws", token="sd_canned", send_review=False),
                   client_class=CannedClient, welcome=f"Text it yourself:\n{line}")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert any(line in str(n.message) for n in app._notifications)
    plain = inbox_app()
    async with plain.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert not any("sim text" in str(n.message) for n in plain._notifications)
