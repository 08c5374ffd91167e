"""The words of the time log: a ticket's entries as picker options, and what may be done.

Kept apart from the inbox screen, which only routes keys to these pickers and
their answers to relay commands.
"""

from __future__ import annotations

from typing import Any

from core.durations import BadDuration, format_duration, parse_duration
from tui.widgets.render import Names

NEW_ENTRY = "new"
EDIT_DURATION, EDIT_NOTE, TOGGLE_BILLABLE, DELETE_ENTRY = "duration", "note", "billable", "delete"


def duration_problem(text: str) -> str | None:
    """For the prompt's ``validate``: why the text is no duration, in words, or None."""
    try:
        parse_duration(text)
    except BadDuration as problem:
        return str(problem)
    return None


def entry_label(entry: dict[str, Any], names: Names) -> str:
    """``45m · Ada · billable · call with the courier``."""
    parts = [format_duration(int(entry.get("seconds") or 0)), names.agent(entry.get("agent_id"))]
    if entry.get("billable"):
        parts.append("billable")
    if entry.get("note"):
        parts.append(str(entry["note"]))
    return " · ".join(parts)


def log_options(ticket_id: int, time: dict[str, Any] | None, names: Names,
                agent: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """What ``L`` offers: log new time first, then the ticket's entries, newest first;
    another agent's entry says up front that ``agent`` may only look at it."""
    options: list[tuple[str, Any]] = [(f"Log time on #{ticket_id}…", NEW_ENTRY)]
    for entry in reversed((time or {}).get("entries") or []):
        label = entry_label(entry, names)
        if agent is not None and not may_change(entry, agent):
            label += f" (view only: {names.agent(entry.get('agent_id'))}'s)"
        options.append((label, entry))
    return options


def log_title(ticket_id: int, time: dict[str, Any] | None) -> str:
    total = int((time or {}).get("total_seconds") or 0)
    billable = int((time or {}).get("billable_seconds") or 0)
    return (f"Time on #{ticket_id}: {format_duration(total)} logged"
            f" ({format_duration(billable)} billable)")


def may_change(entry: dict[str, Any], agent: dict[str, Any]) -> bool:
    """Agents change their own entries; admins any (the relay checks again)."""
    return entry.get("agent_id") == agent.get("id") or agent.get("role") == "admin"


def entry_actions(entry: dict[str, Any]) -> list[tuple[str, str]]:
    billable = "Mark not billable" if entry.get("billable") else "Mark billable"
    return [("Change the duration", EDIT_DURATION), ("Change the note", EDIT_NOTE),
            (billable, TOGGLE_BILLABLE), ("Delete this entry", DELETE_ENTRY)]
