"""The open ticket's earlier conversations: the same person's other tickets, shown above
the thread on request (``H``), one collapsed header line each.

Why a list of headers and not the threads: an agent wants to know "has this person
written before, about what, and how did it end" at a glance; Enter opens one in
full. The inbox loads the windows from the relay (``contact_tickets``, newest first,
keyset paginated) and hands them here; this widget only draws and says what was
chosen, so it never talks to the relay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.widgets import render

OLDER = "older"



class EarlierConversations(OptionList):
    """Hidden until asked for; holds the windows loaded so far and a "Load older" line."""

    DEFAULT_CSS: ClassVar[str] = Path(__file__).with_suffix(".tcss").read_text()
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="earlier.down"),
        Binding("k", "cursor_up", "Up", show=False, id="earlier.up"),
    ]

    class Chosen(Message):
        """Enter on an earlier ticket: the inbox opens it."""

        def __init__(self, item: dict[str, Any]) -> None:
            super().__init__()
            self.item = item

    class WantsOlder(Message):
        """Enter on "Load older": the inbox fetches the next window."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ticket_id: int | None = None  # whose earlier conversations these are
        self.items: list[dict[str, Any]] = []
        self.older: str | None = None

    def show_window(self, ticket_id: int, items: list[dict[str, Any]], older: str | None,
                    *, more: bool = False) -> None:
        """The first window (or, with ``more``, the next one) of this ticket's person."""
        highlighted = self.highlighted if more else None
        if not more or ticket_id != self.ticket_id:
            self.items = []
        self.ticket_id = ticket_id
        self.items += [i for i in items if i["ticket"]["id"] != ticket_id]
        self.older = older
        self.clear_options()
        self.border_title = (f"Earlier conversations · {len(self.items)}"
                             f"{'+' if older else ''}, newest first (H hides)")
        if not self.items and older is None:
            self.add_option(Option(Text("No earlier conversations.", style="dim"),
                                   disabled=True))
        self.add_options([Option(render.person_ticket_line(i, 50), id=str(i["ticket"]["id"]))
                          for i in self.items])
        if older is not None:
            self.add_option(Option(Text("Load older conversations…", style="dim"), id=OLDER))
        if self.items or older is not None:
            self.highlighted = min(highlighted or 0, self.option_count - 1)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == OLDER:
            self.post_message(self.WantsOlder())
            return
        item = next(i for i in self.items if str(i["ticket"]["id"]) == event.option.id)
        self.post_message(self.Chosen(item))
