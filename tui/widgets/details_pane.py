"""The open ticket's fields beside its thread: the built-in ones, then the custom ones.

Why a pane and not the title line: a ticket has more to know than fits on one
line (first response, last customer message, time logged, the admin's own
fields), and an agent answering wants it in view without opening a form.
It is drawn only when what it shows changes (another ticket opened, an event
for this one, the field definitions), never as the list's cursor moves.

The customer's satisfaction (issue 14) is the relay's ``ticket_csat`` answer, kept
live by the ``csat.*`` events: the rating as stars, the comment, when; or that the
survey went out and nobody answered yet; nothing for a ticket never surveyed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.durations import format_duration
from core.fields import FieldDef, shown_value
from tui.widgets import render
from tui.widgets.render import Names, fit, stamp, wrap

NONE = "—"


def field_defs(wire: Sequence[dict[str, Any]]) -> list[FieldDef]:
    """The relay's ``list_fields`` answer (or a ``field.updated`` event) as definitions."""
    return [FieldDef(id=f["id"], key=f["key"], label=f["label"], kind=f["kind"],
                     choices=tuple(f.get("choices") or ()),
                     required_to_resolve=bool(f.get("required_to_resolve")),
                     position=int(f.get("position") or 0), retired_at=f.get("retired_at"))
            for f in wire]


def latest_rated(surveys: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest survey with a rating: the one ``ticket_csat``'s ``rating`` comes from."""
    rated = [s for s in surveys if s.get("rating") is not None]
    return max(rated, key=lambda s: s["id"]) if rated else None


def satisfaction_lines(csat: dict[str, Any] | None, now: int | None = None) -> list[str]:
    """What the pane says of the ticket's surveys, a line each; none when never surveyed.

    The newest rating wins (a later resolution's survey may still be unanswered, which is
    said after it); an unanswered survey past its window is no longer waited for.
    """
    surveys = sorted((csat or {}).get("surveys") or (), key=lambda s: s["id"])
    if not surveys:
        return []
    now = render.clock() if now is None else now
    newest, rated = surveys[-1], latest_rated(surveys)
    waiting = newest.get("rating") is None and newest.get("state") == "sent" \
        and int(newest.get("expires_at") or 0) > now
    if rated is None:
        return ["survey sent", "no answer yet" if waiting else "not answered"]
    lines = [f"{render.rating_stars(rated['rating'])} {rated['rating']}"]
    if rated.get("comment"):
        lines.append(f"“{rated['comment']}”")
    elif rated.get("state") == "asked_comment":
        lines.append("follow-up asked")
    lines.append(f"rated {stamp(rated.get('rated_at'), now)}")
    if newest is not rated:
        lines += ["new survey sent", "no answer yet" if waiting else "not answered"]
    return lines


def details_text(row: dict[str, Any], names: Names, fields: Sequence[FieldDef],
                 facts: dict[str, Any] | None = None,
                 csat: dict[str, Any] | None = None) -> Text:
    """Label/value lines for one ticket; ``facts`` are the relay's times (None: loading),
    ``csat`` its ``ticket_csat`` answer (None: loading, or never asked)."""
    ticket = row["ticket"]
    facts = facts or {}
    loading = "…" if not facts else NONE
    lines: list[tuple[str, str]] = [
        ("Ticket", f"#{ticket['id']}"),
        ("Subject", str(ticket.get("subject") or NONE)),
        ("Type", str(ticket.get("type") or NONE)),
        ("Status", str(ticket.get("status") or NONE).capitalize()),
        ("Priority", str(ticket.get("priority") or NONE).capitalize()),
        ("Group", names.group(ticket.get("group_id")) or NONE),
        ("Agent", names.agent(ticket.get("agent_id")) or NONE),
        ("Tags", ", ".join(ticket.get("tags") or ()) or NONE),
        ("Created", stamp(ticket.get("created_at")) or NONE),
        ("First response", stamp(facts.get("first_response_at")) or loading),
        ("Last customer", stamp(facts.get("last_customer_at")) or loading),
        ("Time logged", format_duration(facts["logged_seconds"])
         if facts.get("logged_seconds") else loading),
    ]
    text = Text()
    for label, value in lines:
        _line(text, label, value)
    for n, said in enumerate(satisfaction_lines(csat)):
        _line(text, "Satisfaction" if n == 0 else "", said)
    values = ticket.get("custom_fields") or {}
    active = [f for f in fields if not f.retired]
    if active:
        text.append("\nFields\n", style="bold underline")
        for field in active:
            value = values.get(field.key)
            shown = shown_value(field, value)
            if field.kind == "dropdown" and value is not None and value not in field.choices:
                shown += " (no longer a choice)"
            _line(text, field.label + (" *" if field.required_to_resolve else ""), shown)
    retired = [f for f in fields if f.retired and f.key in values]
    if retired:
        text.append("\nRetired\n", style="bold underline dim")
        for field in retired:
            _line(text, field.label, shown_value(field, values[field.key]), dim=True)
    return text


LABEL_WIDTH = 15
VALUE_WIDTH = 18  # the pane is 36 cells: a border, padding, the label, a space


MAX_VALUE_LINES = 2  # the form (e) shows a long subject or text in full


def _line(text: Text, label: str, value: str, *, dim: bool = False) -> None:
    """``Status        Open``; a long value wraps under itself, not under the label."""
    shown = fit(label, LABEL_WIDTH - 1).ljust(LABEL_WIDTH)
    parts = wrap(value, VALUE_WIDTH) or [""]
    if len(parts) > MAX_VALUE_LINES:
        parts = [*parts[:MAX_VALUE_LINES - 1], fit(" ".join(parts[MAX_VALUE_LINES - 1:]),
                                                   VALUE_WIDTH)]
    for n, part in enumerate(parts):
        text.append(shown if n == 0 else " " * LABEL_WIDTH, style="dim")
        text.append(f"{part}\n", style="dim" if dim else "")


class DetailsPane(VerticalScroll, can_focus=False):
    """Shows :func:`details_text` for the open ticket; hidden until toggled (``i``)."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: object = None  # what was last drawn: skip drawing it again
        self.body = Static("", id="details-body")

    def compose(self) -> Any:
        yield self.body

    def show(self, row: dict[str, Any] | None, names: Names, fields: Sequence[FieldDef],
             facts: dict[str, Any] | None, csat: dict[str, Any] | None = None) -> None:
        """Draw the ticket's details, only if visible and something changed since."""
        if not self.display:
            return
        key = (id(row), row and row["ticket"], tuple(fields), repr(facts), repr(csat))
        if key == self._shown:
            return
        self._shown = key
        self.body.update(details_text(row, names, fields, facts, csat) if row is not None
                         else Text("No ticket open.", style="dim"))

    def forget(self) -> None:
        """Draw again at the next ``show`` (names changed, or the pane was hidden)."""
        self._shown = None
