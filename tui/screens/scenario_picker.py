"""The scenario picker (``S`` in the inbox): the admins' scenarios, each action shown in full.

The title says on which tickets it will run (the selected ones, or the current one),
so an agent never runs a scenario on more tickets than they meant to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from core.scenarios import describe
from tui.model import Directory
from tui.screens.preview_picker import PreviewItem, PreviewPicker


def on_tickets(ticket_ids: Sequence[int]) -> str:
    """"#12" or "3 selected tickets": where the scenario will run."""
    if len(ticket_ids) == 1:
        return f"#{ticket_ids[0]}"
    return f"{len(ticket_ids)} selected tickets"


def action_words(action: Mapping[str, Any], canned_titles: Mapping[int, str],
                 names: Directory | None = None) -> str:
    """An action in words: groups, agents and canned replies by name when the inbox knows them."""
    title = canned_titles.get(action.get("canned", 0)) if "canned" in action else None
    if title:
        return f"send canned reply “{title}”"
    if names is not None and action.get("set") in ("group", "agent"):
        value = action["value"]
        named = names.group(value) if action["set"] == "group" else names.agent(value)
        return f"set {action['set']} to {named or 'none'}"
    return describe(action)


class ScenarioPicker(PreviewPicker):
    """Pick a scenario to run; answers with it (a ``list_scenarios`` item), or None."""

    def __init__(self, scenarios: Sequence[Mapping[str, Any]], ticket_ids: Sequence[int], *,
                 canned_titles: Mapping[int, str] | None = None,
                 names: Directory | None = None) -> None:
        self.canned_titles = dict(canned_titles or {})
        self.names = names
        items = [PreviewItem(scenario["name"],
                             " ".join(action_words(a, self.canned_titles, names)
                                      for a in scenario["actions"]),
                             "Scenarios", scenario) for scenario in scenarios]
        super().__init__(f"Run a scenario on {on_tickets(ticket_ids)}", items,
                         empty="No scenarios yet: admins define them (Admin, 7).",
                         hint="enter runs it · esc cancels")

    def preview(self, value: Any) -> Text:
        text = Text(value["name"], style="bold")
        text.append("\n")
        for number, action in enumerate(value["actions"], start=1):
            text.append(f"\n{number}. {action_words(action, self.canned_titles, self.names)}")
        text.append("\n\nAll of it happens on each ticket, or none of it (a refused reply "
                    "leaves that ticket as it was).", style="dim")
        return text
