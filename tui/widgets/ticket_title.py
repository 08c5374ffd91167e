"""The open ticket's line above its thread: who, number, status, priority, group, tags.

Why its own line: tags and the rest were saved but shown nowhere once the list
scrolled the ticket away (or at widths where the list drops those columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Static

from core.durations import format_duration
from tui.widgets.render import Names


def ticket_title(row: dict[str, Any] | None, names: Names,
                 logged_seconds: int | None = None) -> Text:
    """``#12 Emma · open · urgent · Shipping · Ana · 🏷 billing, refund`` (empty: no ticket)."""
    if row is None:
        return Text("")
    ticket = row["ticket"]
    who = row.get("contact_name") or row.get("contact_phone") or "Customer"
    line = Text()
    line.append(f" #{ticket['id']} ", style="bold reverse")
    line.append(f" {who}", style="bold")
    facts = [str(ticket.get("status") or ""), str(ticket.get("priority") or "")]
    if ticket.get("group_id") is not None:
        facts.append(names.group(ticket["group_id"]))
    if ticket.get("agent_id") is not None:
        facts.append(names.agent(ticket["agent_id"]))
    for fact in filter(None, facts):
        line.append(f" · {fact}")
    tags = [str(tag) for tag in ticket.get("tags") or ()]
    if tags:
        line.append(" · 🏷 ")
        line.append(", ".join(tags), style="italic")
    if logged_seconds:
        line.append(f" · ⏱ {format_duration(logged_seconds)} logged")
    return line


class TicketTitle(Static):
    """Shows :func:`ticket_title` for the ticket the inbox has open."""

    DEFAULT_CSS = (Path(__file__).with_suffix(".tcss")).read_text()

    def show(self, row: dict[str, Any] | None, names: Names,
             logged_seconds: int | None = None) -> None:
        self.update(ticket_title(row, names, logged_seconds))
        self.display = row is not None
