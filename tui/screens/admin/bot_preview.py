"""The Bot tab's right column: a chat with the flow being edited, before any customer sees it.

The admin types as the customer; the bot's answers come from core.bot_engine.answer run here,
in the inbox (it is pure: no relay, no ticket, no text sent). Each bot text shows what it would
cost ("2 segments · UCS-2"), and what the relay would do besides (move the ticket, save a
field, hand off) is shown as a line of its own. "Pretend closed" takes the out-of-hours path;
"new conversation" starts again with the greeting. The hours are the number's own calendar
(core.business_hours, as the relay would read them), or 24×7 when it has none.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Checkbox, Input, Label, Static

from core.bot_engine import Inbound, Session, Turn, answer
from core.bot_flow import Flow, Say
from core.business_hours import Calendar, HoursNow, hours_now, opening_in_words, zone_named
from tui.screens.admin.bot_tree import cost

HOUR_MS = 3_600_000


def closed_now(at_ms: int, time_zone: str = "UTC") -> HoursNow:
    """Pretend the desk closed an hour ago and opens tomorrow at 9:00 (in the number's zone),
    so the out-of-hours text reads as it would overnight."""
    now = datetime.datetime.fromtimestamp(at_ms / 1000, zone_named(time_zone))
    opening = (now + datetime.timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                         microsecond=0)
    return HoursNow(open=False, next_opening=opening, closed_since=at_ms - HOUR_MS)


def hours_for_preview(calendar: Calendar | None, at_ms: int, *, pretend_closed: bool
                      ) -> HoursNow:
    """The number's hours now; "pretend closed" keeps a real closed period, else makes one."""
    now = hours_now(calendar, at_ms)
    if pretend_closed and now.open:
        return closed_now(at_ms, calendar.time_zone if calendar is not None else "UTC")
    return now


def hours_words(calendar: Calendar | None, at_ms: int) -> str:
    """The line under the preview's heading: whose hours, and open or closed now."""
    if calendar is None:
        return "Hours: 24×7 (no hours set for this number)"
    now = hours_now(calendar, at_ms)
    if now.open:
        return f"Hours ({calendar.time_zone}): open now"
    if now.next_opening is None:
        return f"Hours ({calendar.time_zone}): closed, no opening ahead"
    opens = opening_in_words(now.next_opening, at_ms)
    return f"Hours ({calendar.time_zone}): closed, opens {opens}"


def bot_text(say: Say) -> Text:
    """A bot text as the customer gets it, with its cost and its attachments named."""
    text = Text("🤖 ", style="bold")
    text.append(say.as_sent())
    for attachment in say.attachments:
        text.append(f"\n📎 {attachment.filename or attachment.content_type}", style="italic")
    text.append(f"\n{cost(say.as_sent())}", style="dim")
    return text


def what_else(turn: Turn) -> list[str]:
    """What the relay would do besides texting: the lines under the bot's answer."""
    said = []
    if turn.field is not None:
        said.append(f"saves {turn.field[1]!r} in the ticket's {turn.field[0]}")
    if turn.route is not None:
        said.append(f"moves the ticket to {turn.route}")
    if turn.hand_off:
        said.append("hands the ticket to a person: the bot is quiet from now on")
    return said


class BotPreview(Vertical):
    """Type as the customer; read what the bot answers and what each answer costs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_conversation", "New conversation", id="bot.preview_new"),
        Binding("ctrl+o", "toggle_closed", "Pretend closed", id="bot.preview_closed"),
    ]

    def __init__(self, *, id: str | None = None,
                 clock: Callable[[], int] | None = None) -> None:
        super().__init__(id=id)
        self.flow: Flow | None = None
        self.calendar: Calendar | None = None
        self.session: Session | None = None
        self.paused = ""
        self.clock = clock or (lambda: int(time.time() * 1000))

    def compose(self) -> ComposeResult:
        yield Label("Preview: type as the customer", classes="bot-heading")
        yield Static("", id="preview-hours")
        yield VerticalScroll(id="preview-log")
        yield Checkbox("pretend closed (ctrl+o)", id="preview-closed")
        yield Input(placeholder="a customer's text, then enter · ctrl+n starts again",
                    id="preview-input")

    # --- what it runs ------------------------------------------------------------------

    def show_flow(self, flow: Flow | None, *, calendar: Calendar | None = None,
                  paused: str = "", restart: bool = False) -> None:
        """Run ``flow`` from now on; ``paused`` says why it cannot run (its problems).
        The conversation goes on unless asked to restart or its place left the flow."""
        self.flow, self.calendar, self.paused = flow, calendar, paused
        self.query_one("#preview-hours", Static).update(hours_words(calendar, self.clock()))
        if restart or not self._still_there():
            self.new_conversation()

    def _still_there(self) -> bool:
        node = self.session.node if self.session is not None else None
        if node is None or self.flow is None:
            return True
        kind, _, name = node.partition(":")
        return name in (self.flow.menus if kind == "menu" else self.flow.questions)

    @property
    def closed(self) -> bool:
        return self.query_one("#preview-closed", Checkbox).value

    # --- the conversation --------------------------------------------------------------

    def action_new_conversation(self) -> None:
        self.new_conversation()

    def new_conversation(self) -> None:
        self.session = None
        log = self.query_one("#preview-log", VerticalScroll)
        log.remove_children()
        if self.paused:
            log.mount(Static(Text(self.paused, style="bold"), classes="preview-note"))
        elif self.flow is None:
            log.mount(Static("This number has no flow yet: add a menu (a on Menus), or"
                             " import a file (i).", classes="preview-note"))
        else:
            log.mount(Static("A new conversation: text anything to start it.",
                             classes="preview-note"))

    def action_toggle_closed(self) -> None:
        box = self.query_one("#preview-closed", Checkbox)
        box.value = not box.value

    @on(Input.Submitted, "#preview-input")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        body = event.value
        event.input.value = ""
        self.customer_says(body)

    def customer_says(self, body: str) -> Turn | None:
        """Show the customer's text and the bot's turn; None when the flow cannot run."""
        log = self.query_one("#preview-log", VerticalScroll)
        if self.flow is None or self.paused:
            self.new_conversation()
            return None
        log.mount(Static(Text(body or "(a picture, no words)"), classes="preview-customer"))
        at_ms = self.clock()
        hours = hours_for_preview(self.calendar, at_ms, pretend_closed=self.closed)
        inbound = Inbound(body=body, new_conversation=self.session is None)
        turn = answer(self.flow, self.session, inbound, hours, at_ms)
        self.session = turn.session
        for say in turn.says:
            log.mount(Static(bot_text(say), classes="preview-bot"))
        for line in what_else(turn):
            log.mount(Static(f"→ {line}", classes="preview-note"))
        if not turn.says and not what_else(turn):
            log.mount(Static("(the bot stays quiet: the text waits for a person)",
                             classes="preview-note"))
        log.scroll_end(animate=False)
        return turn
