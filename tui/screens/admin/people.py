"""The People tab: agents (who may sign in, with which role, in which groups) and the groups.

A new agent's token is made by the relay and exists in clear exactly once: in
the answer to ``add_agent`` (the relay keeps only its hash). So it is shown in
a dialog of its own that says so, and is never written anywhere else.

Each list owns its keys (agents: new, role, groups, disable; groups: new,
rename), so the footer shows only what applies to the list the cursor is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from tui.screens.admin import ROLES, AdminPane, keep_cursor, table_row_key
from tui.screens.pickers import ChoiceScreen, ConfirmScreen, TextPromptScreen


class AgentsTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_agent')", "New agent", id="admin.add_agent"),
        Binding("o", "pane('change_role')", "Role", id="admin.agent_role"),
        Binding("g", "pane('change_groups')", "Groups", id="admin.agent_groups"),
        Binding("x", "pane('toggle_disabled')", "Disable/enable", id="admin.agent_disable"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(PeoplePane), name)()


class GroupsTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_group')", "New group", id="admin.add_group"),
        Binding("e", "pane('rename_group')", "Rename group", id="admin.rename_group"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(PeoplePane), name)()


class GroupsPickScreen(ModalScreen[list[int] | None]):
    """Choose any number of groups: space toggles, enter or ctrl+s saves, escape cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "people.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False, id="admin.groups_cancel"),
        Binding("ctrl+s", "save", "Save", id="admin.groups_save"),
    ]

    def __init__(self, title: str, groups: Sequence[dict[str, Any]],
                 chosen: Sequence[int]) -> None:
        super().__init__()
        self._title = title
        self._groups = list(groups)
        self._chosen = set(chosen)

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog"):
            yield Label(self._title, classes="picker-title", markup=False)
            yield SelectionList[int](
                *[Selection(str(g["name"]), int(g["id"]), g["id"] in self._chosen)
                  for g in self._groups], id="groups-pick")
            yield Static("No groups yet: add one in the groups list (n)." if not self._groups
                         else "space toggles · ctrl+s saves · esc cancels", classes="picker-hint")

    def on_mount(self) -> None:
        self.query_one("#groups-pick", SelectionList).focus()

    def action_save(self) -> None:
        self.dismiss(sorted(self.query_one("#groups-pick", SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TokenShownScreen(ModalScreen[None]):
    """The new agent's sign-in token, shown this once; the relay keeps only its hash."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "people.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Done", show=False, id="admin.token_done"),
        Binding("c", "copy", "Copy", id="admin.token_copy"),
    ]

    def __init__(self, name: str, token: str) -> None:
        super().__init__()
        self._name = name
        self.token = token

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog", id="token-dialog"):
            yield Label(f"{self._name} can sign in now", classes="picker-title", markup=False)
            yield Static(Text("Copy it now, it will not be shown again.", style="bold"),
                          id="token-warning")
            yield Static(Text(self.token, style="bold reverse"), id="token-value")
            yield Static(Text(
                "Give it to them privately. They put it in their inbox config file"
                " (token = \"...\") or pass --token. Lost it? Disable this agent and add"
                " a new one."), classes="picker-hint")
            with Horizontal(classes="confirm-buttons"):
                yield Button("Copy (c)", id="token-copy")
                yield Button("I have copied it", id="token-done", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#token-done", Button).focus()

    @on(Button.Pressed, "#token-done")
    def _done(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    @on(Button.Pressed, "#token-copy")
    def _copy_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_copy()

    def action_copy(self) -> None:
        # OSC 52: most terminals put it on the clipboard; some (and some multiplexers) refuse.
        self.app.copy_to_clipboard(self.token)
        self.notify("Sent to the clipboard; if your terminal does not allow that, select the"
                    " token with the mouse.", timeout=4)

    def action_close(self) -> None:
        self.dismiss(None)


def group_names(group_ids: Sequence[int], groups: dict[int, dict[str, Any]]) -> str:
    names = [str(groups[g]["name"]) if g in groups else f"group {g}" for g in group_ids]
    return ", ".join(names) or "all (no group)"


def not_empty(text: str) -> str | None:
    return None if text.strip() else "The name cannot be empty."


def retention_words(days: int | None) -> str:
    if days is None:
        return "Trash: tickets are kept until an admin empties it (K to change)"
    return f"Trash: tickets kept there more than {days} days are purged (K to change)"


def days_problem(text: str) -> str | None:
    """For the retention prompt: a whole number of days from 1 to 3650, or empty."""
    typed = text.strip()
    if not typed:
        return None
    if not typed.isascii() or not typed.isdigit() or not 1 <= int(typed) <= 3650:
        return "Type a number of days from 1 to 3650, or leave it empty to keep them."
    return None


class PeoplePane(AdminPane):
    """Agents above, groups below; tab moves between the two lists. Under them, how long
    the Trash keeps deleted tickets (a desk-wide setting with no tab of its own)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("K", "trash_retention", "Trash retention", id="admin.trash_retention"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.agents: dict[str, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.retention_days: int | None = None

    def compose(self) -> ComposeResult:
        yield Label("Agents", classes="people-title")
        agents = AgentsTable(cursor_type="row", zebra_stripes=True, id="agents-table")
        agents.add_columns("Name", "Role", "Groups", "Signed in")
        yield agents
        yield Label("Groups", classes="people-title")
        groups = GroupsTable(cursor_type="row", zebra_stripes=True, id="groups-table")
        groups.add_columns("Name", "Agents")
        yield groups
        yield Label("", id="trash-retention", classes="people-title")

    @property
    def agents_table(self) -> AgentsTable:
        return self.query_one(AgentsTable)

    @property
    def groups_table(self) -> GroupsTable:
        return self.query_one(GroupsTable)

    async def reload(self) -> None:
        agents = await self.call("load the agents", "list_agents")
        groups = await self.call("load the groups", "list_groups")
        retention = await self.call("load the Trash retention", "get_trash_retention")
        if agents is None or groups is None or retention is None:
            return
        self.retention_days = retention.get("days")
        self.query_one("#trash-retention", Label).update(retention_words(self.retention_days))
        self.loaded = True
        self.groups = {group["id"]: group for group in groups}
        table = self.agents_table
        current = table_row_key(table)
        table.clear()
        self.agents = {}
        for agent in agents:
            key = str(agent["id"])
            self.agents[key] = agent
            table.add_row(agent.get("name", ""), agent.get("role", ""),
                          group_names(agent.get("group_ids") or [], self.groups),
                          "disabled" if agent.get("disabled") else "may sign in", key=key)
        keep_cursor(table, current)
        table = self.groups_table
        current = table_row_key(table)
        table.clear()
        for group in groups:
            members = sum(1 for a in agents if group["id"] in (a.get("group_ids") or [])
                          and not a.get("disabled"))
            table.add_row(group.get("name", ""), str(members), key=str(group["id"]))
        keep_cursor(table, current)

    def current_agent(self) -> dict[str, Any] | None:
        key = table_row_key(self.agents_table)
        return self.agents.get(key) if key is not None else None

    def current_group(self) -> dict[str, Any] | None:
        key = table_row_key(self.groups_table)
        return self.groups.get(int(key)) if key is not None else None

    def action_trash_retention(self) -> None:
        self.change_retention()

    @work(exclusive=True, group="people")
    async def change_retention(self) -> None:
        current = "" if self.retention_days is None else str(self.retention_days)
        typed = await self.ask(TextPromptScreen(
            "Purge tickets in the Trash after how many days?",
            "days; empty: keep them until the Trash is emptied", current,
            validate=days_problem))
        if typed is None:
            return
        days = int(typed) if typed.strip() else None
        if await self.call("set the Trash retention", "set_trash_retention",
                           days=days) is not None:
            await self.reload()

    # --- agents ---------------------------------------------------------------------

    @work(exclusive=True, group="people")
    async def add_agent(self) -> None:
        name = await self.ask(TextPromptScreen("New agent's name", "as the team knows them",
                                               validate=not_empty))
        if name is None:
            return
        role = await self.ask(ChoiceScreen(f"Role of {name.strip()}", ROLES, "agent"))
        if role is None:
            return
        group_ids = await self.ask(GroupsPickScreen(
            f"Groups of {name.strip()} (none: sees every ticket)",
            list(self.groups.values()), []))
        if group_ids is None:
            return
        added = await self.call("add the agent", "add_agent", name=name.strip(), role=role,
                                group_ids=group_ids)
        if added is None:
            return
        await self.reload()
        await self.ask(TokenShownScreen(str(added["agent"].get("name")), str(added["token"])))

    @work(exclusive=True, group="people")
    async def change_role(self) -> None:
        agent = self.current_agent()
        if agent is None:
            return
        role = await self.ask(ChoiceScreen(f"Role of {agent.get('name')}", ROLES,
                                           agent.get("role")))
        if role is not None and role != agent.get("role") and await self.call(
                "change the role", "update_agent", agent_id=agent["id"], role=role) is not None:
            await self.reload()

    @work(exclusive=True, group="people")
    async def change_groups(self) -> None:
        agent = self.current_agent()
        if agent is None:
            return
        group_ids = await self.ask(GroupsPickScreen(
            f"Groups of {agent.get('name')}", list(self.groups.values()),
            list(agent.get("group_ids") or [])))
        if group_ids is not None and await self.call(
                "change the groups", "update_agent", agent_id=agent["id"],
                group_ids=group_ids) is not None:
            await self.reload()

    @work(exclusive=True, group="people")
    async def toggle_disabled(self) -> None:
        agent = self.current_agent()
        if agent is None:
            return
        disable = not agent.get("disabled")
        if disable:
            me = (self.client.agent or {}).get("id")
            question = (f"Disable {agent.get('name')}? Their token stops working at once;"
                        " their tickets stay assigned to them.")
            if agent["id"] == me:
                question = "Disable yourself? This inbox is signed in with your token and" \
                    " will be refused at once."
            if not await self.ask(ConfirmScreen(question, yes="Disable", no="Keep")):
                return
        if await self.call("disable the agent" if disable else "enable the agent",
                           "update_agent", agent_id=agent["id"], disabled=disable) is not None:
            await self.reload()

    # --- groups ---------------------------------------------------------------------

    @work(exclusive=True, group="people")
    async def add_group(self) -> None:
        name = await self.ask(TextPromptScreen("New group", "e.g. Billing", validate=not_empty))
        if name is not None and await self.call("add the group", "add_group",
                                                name=name.strip()) is not None:
            await self.reload()

    @work(exclusive=True, group="people")
    async def rename_group(self) -> None:
        group = self.current_group()
        if group is None:
            return
        name = await self.ask(TextPromptScreen("Rename the group", "", str(group.get("name")),
                                               validate=not_empty))
        if name is not None and name.strip() != group.get("name") and await self.call(
                "rename the group", "rename_group", group_id=group["id"],
                name=name.strip()) is not None:
            await self.reload()

