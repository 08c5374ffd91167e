"""The Scenarios tab (7): admins name a sequence of ticket actions, agents run it with ``S``.

Each action is added from a menu and asks for its value with the right input (a list
of statuses, of groups, of shared canned responses; words for tags and notes), so a
scenario is well formed before the relay checks it once more.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, OptionList, Static

from tui.model import Directory
from tui.screens.admin import AdminPane, keep_cursor, table_row_key
from tui.screens.pickers import ChoiceScreen, ConfirmScreen, TextPromptScreen, parse_tags
from tui.screens.scenario_picker import action_words

STATUSES = [("Open", "open"), ("Pending", "pending"), ("Resolved", "resolved"),
            ("Closed", "closed")]
PRIORITIES = [("Low", "low"), ("Medium", "medium"), ("High", "high"), ("Urgent", "urgent")]
NOBODY = "none"  # a picker answers None on escape, so "no group / no agent" needs a value
KINDS = [("Set status", "status"), ("Set priority", "priority"), ("Set type", "type"),
         ("Set group", "group"), ("Assign an agent", "agent"), ("Add tags", "tags_add"),
         ("Remove tags", "tags_remove"), ("Set a custom field", "field"),
         ("Add a private note", "note"), ("Send a canned reply", "canned")]


class ActionsList(OptionList):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "screen.add_action", "Add action", id="admin.scenario_add_action"),
        Binding("x,delete", "screen.remove_action", "Remove action",
                id="admin.scenario_remove_action"),
    ]


class ScenarioEditor(ModalScreen["dict[str, Any] | None"]):
    """A scenario's name and actions: a adds, x removes, ctrl+s saves, esc cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "scenarios.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="admin.scenario_save"),
        Binding("escape", "cancel", "Cancel", show=False, id="admin.scenario_cancel"),
    ]

    def __init__(self, scenario: dict[str, Any] | None, names: Directory,
                 canned: list[dict[str, Any]]) -> None:
        super().__init__()
        self.scenario = scenario or {}
        self.actions: list[dict[str, Any]] = [dict(a) for a in self.scenario.get("actions", [])]
        self.names = names
        self.canned = canned

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog", id="scenario-editor"):
            yield Label("Edit the scenario" if self.scenario else "New scenario",
                        classes="picker-title")
            yield Input(self.scenario.get("name", ""), placeholder="name, e.g. Close as spam",
                        id="scenario-name")
            yield ActionsList(id="scenario-actions")
            yield Static("", id="scenario-error", classes="picker-error")
            yield Static("tab to the actions · a adds · x removes · ctrl+s saves · esc cancels",
                         classes="picker-hint")

    def on_mount(self) -> None:
        self._show()
        self.query_one("#scenario-name", Input).focus()

    def _show(self) -> None:
        titles = {r["id"]: r["title"] for r in self.canned}
        listed = self.query_one(ActionsList)
        listed.clear_options()
        listed.add_options([f"{i}. {action_words(a, titles, self.names)}"
                            for i, a in enumerate(self.actions, start=1)]
                           or ["(no actions yet: a adds one)"])

    def action_add_action(self) -> None:
        self.add_action()

    @work(exclusive=True, group="scenario-editor")
    async def add_action(self) -> None:
        kind = await self.app.push_screen_wait(ChoiceScreen("Add which action?", KINDS))
        if kind is None:
            return
        action = await self.ask_action(kind)
        if action is not None:
            self.actions.append(action)
            self._show()
            self.query_one(ActionsList).highlighted = len(self.actions) - 1

    async def ask_action(self, kind: str) -> dict[str, Any] | None:
        """The value of one action, asked with the input that fits it."""
        ask = self.app.push_screen_wait
        if kind in ("status", "priority"):
            value = await ask(ChoiceScreen(f"Set {kind} to", STATUSES if kind == "status"
                                           else PRIORITIES))
        elif kind in ("group", "agent"):
            known = self.names.groups if kind == "group" else self.names.agents
            value = await ask(ChoiceScreen(f"Set {kind} to", [
                (f"(no {kind})", NOBODY), *((str(v["name"]), k) for k, v in known.items())]))
            if value is None:  # escape
                return None
            return {"set": kind, "value": None if value == NOBODY else value}
        elif kind == "type":
            value = await ask(TextPromptScreen("Set the ticket type to", "e.g. Refund"))
        elif kind in ("tags_add", "tags_remove"):
            typed = await ask(TextPromptScreen("Which tags?", "comma-separated"))
            tags = parse_tags(typed)[0] if typed else []
            return {kind: tags} if tags else None
        elif kind == "field":
            typed = await ask(TextPromptScreen("Custom field", "key=value, e.g. order_no=A-7",
                                               validate=field_problem))
            if typed is None:
                return None
            key, value = (part.strip() for part in typed.split("=", 1))
            return {"field": key, "value": value}
        elif kind == "note":
            note = await ask(TextPromptScreen("The private note", "agents only"))
            return {"note": note} if note and note.strip() else None
        else:
            shared = [(r["title"], r["id"]) for r in self.canned]
            if not shared:
                self.notify("No shared canned responses yet: add one in the Canned tab (6).",
                            severity="warning")
                return None
            chosen = await ask(ChoiceScreen("Send which canned reply?", shared))
            return {"canned": chosen} if chosen is not None else None
        return {"set": kind, "value": value} if value is not None else None

    def action_remove_action(self) -> None:
        index = self.query_one(ActionsList).highlighted
        if index is not None and index < len(self.actions):
            del self.actions[index]
            self._show()

    def action_save(self) -> None:
        name = self.query_one("#scenario-name", Input).value.strip()
        if not name or not self.actions:
            self.query_one("#scenario-error", Static).update(
                "A scenario needs a name and at least one action.")
            return
        self.dismiss({"name": name, "actions": self.actions})

    def action_cancel(self) -> None:
        self.dismiss(None)


def field_problem(text: str) -> str | None:
    key = text.split("=", 1)[0].strip()
    if "=" not in text or not key:
        return "Type key=value, e.g. order_no=A-7."
    return None


class ScenariosTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_scenario')", "New scenario", id="admin.add_scenario"),
        Binding("e,enter", "pane('edit_scenario')", "Edit", id="admin.edit_scenario"),
        Binding("d", "pane('delete_scenario')", "Delete", id="admin.delete_scenario"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(ScenariosPane), name)()


class ScenariosPane(AdminPane):
    """Every scenario with what it does, in the order it does it."""

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.scenarios: dict[str, dict[str, Any]] = {}
        self.names = Directory()
        self.canned: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Label("Scenarios: agents run them with S on the selected tickets",
                    classes="scenarios-heading")
        table = ScenariosTable(cursor_type="row", zebra_stripes=True, id="scenarios-table")
        table.add_columns("Name", "Actions")
        yield table

    async def reload(self) -> None:
        scenarios = await self.call("load the scenarios", "list_scenarios")
        groups = await self.call("load the groups", "list_groups")
        agents = await self.call("load the agents", "list_agents")
        library = await self.call("load the canned responses", "list_canned")
        if scenarios is None or groups is None or agents is None or library is None:
            return
        self.loaded = True
        self.names.load(groups, agents, [])
        self.canned = [r for r in library["responses"] if r.get("owner_agent_id") is None]
        titles = {r["id"]: r["title"] for r in self.canned}
        table = self.query_one(ScenariosTable)
        current = table_row_key(table)
        table.clear()
        self.scenarios = {}
        for scenario in scenarios:
            key = str(scenario["id"])
            self.scenarios[key] = scenario
            table.add_row(scenario["name"], "; ".join(action_words(a, titles, self.names)
                                                      for a in scenario["actions"]), key=key)
        keep_cursor(table, current)

    def _current(self) -> dict[str, Any] | None:
        key = table_row_key(self.query_one(ScenariosTable))
        return self.scenarios.get(key) if key is not None else None

    def add_scenario(self) -> None:
        self.edit(None)

    def edit_scenario(self) -> None:
        scenario = self._current()
        if scenario is not None:
            self.edit(scenario)

    @work(exclusive=True, group="scenarios")
    async def edit(self, scenario: dict[str, Any] | None) -> None:
        wanted = await self.ask(ScenarioEditor(scenario, self.names, self.canned))
        if wanted is None:
            return
        if scenario is not None:
            wanted["scenario_id"] = scenario["id"]
        if await self.call("save the scenario", "save_scenario", **wanted) is not None:
            await self.reload()

    @work(exclusive=True, group="scenarios")
    async def delete_scenario(self) -> None:
        scenario = self._current()
        if scenario is not None and await self.ask(ConfirmScreen(
                f"Delete the scenario “{scenario['name']}”?")) and await self.call(
                "delete the scenario", "delete_scenario", scenario_id=scenario["id"]) is not None:
            await self.reload()
