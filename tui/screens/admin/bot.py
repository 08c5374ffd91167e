"""The Bot tab (9): each business number's bot flow, edited as a tree and tried in a preview.

Left, the numbers (● on, ○ off, — no flow); space turns the highlighted number's bot on or
off. Middle, its flow as a tree: enter edits a node in a form, a adds, d deletes, ctrl+s saves
to the relay. Right, a chat with the flow as edited (tui.screens.admin.bot_preview).

Flows live in version control as TOML: i imports a file (checked here with core.bot_flow's
parse_flow, refusals shown with their line numbers, then saved; the relay checks again), x
exports one. An imported file is saved as written, comments and all; once edited here, the
flow is saved as core.bot_flow writes it. Unsaved edits are never dropped silently: moving to
another number, importing over them, or leaving the tab asks first.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Static

from core.bot_flow import (
    Attachment,
    Flow,
    FlowInvalid,
    Problem,
    Say,
    flow_to_toml,
    parse_flow,
    problems_for_number,
)
from core.business_hours import Calendar, HoursInvalid, calendar_from_dict
from tui.client import CommandError
from tui.screens.admin import AdminPane, capability, keep_cursor, table_row_key
from tui.screens.admin.bot_edits import (
    EditRefused,
    NodeRef,
    add_under,
    check_id,
    is_about,
    is_editable,
    node_value,
    problems_of,
    replace_node,
    without_node,
)
from tui.screens.admin.bot_node_form import Choices, Edited, NodeForm
from tui.screens.admin.bot_preview import BotPreview
from tui.screens.admin.bot_tree import BotTree, fill_tree
from tui.screens.pickers import ConfirmScreen, TextPromptScreen

ON, OFF, NONE = "●", "○", "—"


def state_mark(row: dict[str, Any]) -> str:
    if row.get("source") is None:
        return NONE
    return ON if row.get("enabled") else OFF


def problem_lines(problems: list[Problem] | list[dict[str, Any]]) -> str:
    """One problem a line, as core.bot_flow words them ("line 12: menus.main: …")."""
    return "\n".join(str(p) if isinstance(p, Problem) else str(Problem(
        p.get("line"), p.get("where") or "", p.get("message") or "")) for p in problems)


def numbers_calendars(rows: list[dict[str, Any]]) -> dict[int, Calendar]:
    """Each number's own calendar from ``get_business_hours`` (the preview has no ticket, so
    no group's hours); one the relay would refuse is left out, as 24×7."""
    calendars = {}
    for row in rows:
        if row.get("scope") == "number" and row.get("calendar"):
            try:
                calendars[row["scope_id"]] = calendar_from_dict(row["calendar"])
            except HoursInvalid:
                continue
    return calendars


def default_export_path(e164: str) -> str:
    return f"~/smsdesk-bot-{e164.lstrip('+')}.toml"


class BotPane(AdminPane):
    """``get_bot_flows`` as a list, one number's flow as a tree, and its preview."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="bot.save"),
        Binding("i", "import_flow", "Import TOML", id="bot.import"),
        Binding("x", "export_flow", "Export TOML", id="bot.export"),
        # The same id as the tree's space: a keymap moves both.
        Binding("space", "toggle_enabled", "On/off", id="bot.toggle"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.rows: dict[int, dict[str, Any]] = {}
        self.groups: list[str] = []
        self.fields: list[tuple[str, str]] = []
        self.number_id: int | None = None
        self.flow: Flow = Flow()
        # The TOML to save: the stored or imported file as written; None once edited here.
        self.source: str | None = None
        self.unsaved = False
        self.calendars: dict[int, Calendar] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(id="bot-columns"):
            with Vertical(id="bot-left"):
                yield Label("Numbers", classes="bot-heading")
                numbers: DataTable[str] = DataTable(cursor_type="row", id="bot-numbers")
                numbers.add_columns("", "Number", "Kind")
                yield numbers
                yield Static("● on · ○ off · — no flow\nspace on/off · tab: the flow",
                             classes="admin-note")
            with Vertical(id="bot-middle"):
                yield Static("", id="bot-state")
                yield BotTree(id="bot-tree")
                yield Static("", id="bot-problems")
            yield BotPreview(id="bot-preview")

    # --- loading ------------------------------------------------------------------------

    async def reload(self) -> None:
        answer = await self.call("load the bot flows", "get_bot_flows")
        groups = await self.call("load the groups", "list_groups")
        fields = await self.call("load the ticket fields", "list_fields")
        hours = await self.call("load the business hours", "get_business_hours")
        if answer is None or groups is None or fields is None or hours is None:
            return
        self.calendars = numbers_calendars(hours["hours"])
        self.loaded = True
        self.groups = [g["name"] for g in groups]
        self.fields = [(f["key"], f["label"]) for f in fields if f.get("retired_at") is None]
        self.rows = {row["number_id"]: row for row in answer["flows"]}
        table = self.query_one("#bot-numbers", DataTable)
        current = table_row_key(table)
        table.clear()
        for row in self.rows.values():
            table.add_row(state_mark(row), row["e164"], capability(row.get("mms")),
                          key=str(row["number_id"]))
        keep_cursor(table, current)
        wanted = self.number_id if self.number_id in self.rows else \
            (int(key) if (key := table_row_key(table)) is not None else None)
        if not self.unsaved:
            self.open_number(wanted)
        else:
            self.show_state()

    def open_number(self, number_id: int | None) -> None:
        """Show this number's stored flow (an empty one when it has none yet)."""
        self.number_id = number_id
        row = self.rows.get(number_id) if number_id is not None else None
        source = row.get("source") if row else None
        problems: list[Any] = list(row.get("problems") or []) if row else []
        self.flow, self.source = Flow(), source
        if source is not None:
            try:
                self.flow = parse_flow(source)
            except FlowInvalid as invalid:  # stored by an older relay, say; shown, not lost
                problems = list(invalid.problems)
        self.unsaved = False
        self.refresh_flow(restart=True, relay_problems=problems)

    @property
    def row(self) -> dict[str, Any] | None:
        return self.rows.get(self.number_id) if self.number_id is not None else None

    @property
    def mms(self) -> bool:
        return bool(self.row and self.row.get("mms"))

    def current_problems(self) -> list[Problem]:
        return problems_of(self.flow, mms=self.mms, groups=self.groups,
                           fields=[key for key, _ in self.fields])

    def refresh_flow(self, *, keep: NodeRef | None = None, restart: bool = False,
                     relay_problems: list[Any] | None = None) -> None:
        """Show the flow as it now is: the tree, the state line, its problems, the preview."""
        tree = self.query_one(BotTree)
        fill_tree(tree, self.flow, keep=keep or tree.current)
        problems: list[Any] = relay_problems if relay_problems else self.current_problems()
        self.show_problems(problem_lines(problems) if problems else "")
        self.show_state()
        runnable = not problems_of(self.flow)
        paused = "" if runnable else "The preview waits until the flow has no problems."
        has_words = self.flow.menus or self.flow.greeting or self.flow.keywords
        calendar = self.calendars.get(self.number_id) if self.number_id is not None else None
        self.query_one(BotPreview).show_flow(self.flow if has_words else None, calendar=calendar,
                                             paused=paused, restart=restart)

    def show_state(self) -> None:
        row = self.row
        text = Text()
        if row is None:
            text.append("No number is connected: connect one in Accounts (1).")
        else:
            text.append(row["e164"], style="bold")
            text.append("  bot " + ("on" if row.get("enabled") else "off")
                        if row.get("source") is not None else "  no flow saved yet")
            if self.unsaved:
                text.append("  · unsaved changes (ctrl+s saves)", style="bold yellow")
            if not row.get("mms"):
                text.append("\nSMS-only number: the bot sends text only.", style="italic")
        self.query_one("#bot-state", Static).update(text)

    def show_problems(self, words: str) -> None:
        box = self.query_one("#bot-problems", Static)
        box.update(Text(words, style="red") if words else "")
        box.display = bool(words)

    def focus_first(self) -> None:
        self.query_one("#bot-numbers", DataTable).focus()

    # --- moving between numbers -----------------------------------------------------------

    @on(DataTable.RowHighlighted, "#bot-numbers")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        number_id = int(event.row_key.value) if event.row_key.value is not None else None
        if number_id == self.number_id:
            return
        if self.unsaved:
            self.leave_number(number_id)
        else:
            self.open_number(number_id)

    @work(exclusive=True, group="bot-leave")
    async def leave_number(self, number_id: int | None) -> None:
        if await self.ask(ConfirmScreen(self.leaving_question(), yes="Discard", no="Stay")):
            self.open_number(number_id)
        else:
            keep_cursor(self.query_one("#bot-numbers", DataTable), str(self.number_id))

    def leaving_question(self) -> str:
        e164 = self.row["e164"] if self.row else "this number"
        return f"The flow of {e164} has unsaved changes. Discard them?"

    def discard(self) -> None:
        """Forget the unsaved edits: back to what the relay stored."""
        self.open_number(self.number_id)

    # --- editing the tree -----------------------------------------------------------------

    def choices(self, flow: Flow) -> Choices:
        return Choices(menus=list(flow.menus), questions=list(flow.questions),
                       groups=self.groups, fields=self.fields)

    def check_node(self, flow: Flow, ref: NodeRef, value: Any) -> list[str]:
        """Why this node cannot be kept, in core.bot_flow's words (other nodes' problems wait
        for their own form)."""
        if ref[0] in ("menu", "question") and value.id != ref[1]:
            taken = flow.menus if ref[0] == "menu" else flow.questions
            problem = check_id(value.id, taken, ref[0])
            if problem:
                return [problem]
        try:
            candidate = replace_node(flow, ref, value)
        except EditRefused as refused:
            return [str(refused)]
        now = (ref[0], value.id) if ref[0] in ("menu", "question") else ref
        found = problems_of(candidate, mms=self.mms, groups=self.groups,
                            fields=[key for key, _ in self.fields])
        return [f"{p.where}: {p.message}" if p.where else p.message
                for p in found if is_about(p, now)]

    def edit_node(self) -> None:
        ref = self.query_one(BotTree).current
        if ref is None or self.number_id is None:
            return
        if not is_editable(ref):
            self.add_node()
            return
        self.edit(self.flow, ref)

    def add_node(self) -> None:
        ref = self.query_one(BotTree).current
        if ref is None or self.number_id is None:
            return
        try:
            candidate, new_ref = add_under(self.flow, ref)
        except EditRefused as refused:
            self.notify(str(refused), title="Cannot add here", severity="warning")
            return
        self.edit(candidate, new_ref)

    @work(exclusive=True, group="bot-edit")
    async def edit(self, flow: Flow, ref: NodeRef) -> None:
        """The node's form over ``flow`` (the current flow, or one with a node just added:
        cancelling the form then adds nothing)."""
        form = NodeForm(ref, node_value(flow, ref), choices=self.choices(flow), mms=self.mms,
                        check=lambda r, v: self.check_node(flow, r, v))
        edited: Edited | None = await self.ask(form)
        if edited is None:
            return
        value = edited.value
        if edited.uploads:
            value = await self.uploaded(value, edited.uploads)
            if value is None:
                return
        new_ref = (ref[0], value.id) if ref[0] in ("menu", "question") else ref
        self.changed(replace_node(flow, ref, value), keep=new_ref)

    async def uploaded(self, value: Any, uploads: dict[str, Path]) -> Any | None:
        """The node with each pending file stored by the relay and named by its digest."""
        stored: dict[str, Attachment] = {}
        for digest, path in uploads.items():
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as error:
                self.notify(f"Could not read {path}: {error.strerror}", severity="error")
                return None
            pending = _find_attachment(value, digest)
            answer = await self.call("attach the file", "upload_media",
                                     content_type=pending.content_type, filename=path.name,
                                     data=base64.b64encode(data).decode("ascii"))
            if answer is None:
                return None
            stored[digest] = Attachment(answer["sha256"], pending.content_type, path.name,
                                        int(answer.get("size") or len(data)))
        return _swap_attachments(value, stored)

    def delete_node(self) -> None:
        ref = self.query_one(BotTree).current
        if ref is None or self.number_id is None:
            return
        try:
            flow = without_node(self.flow, ref)
        except EditRefused as refused:
            self.notify(str(refused), title="Not deleted", severity="warning", timeout=8)
            return
        self.changed(flow, keep=None)

    def changed(self, flow: Flow, *, keep: NodeRef | None) -> None:
        self.flow, self.source, self.unsaved = flow, None, True
        self.refresh_flow(keep=keep)

    # --- on/off, save -------------------------------------------------------------------

    def action_toggle_enabled(self) -> None:
        self.set_enabled()

    @work(exclusive=True, group="bot-relay")
    async def set_enabled(self) -> None:
        row = self.row
        if row is None:
            return
        if row.get("source") is None:
            self.notify(f"{row['e164']} has no flow saved yet: save one (ctrl+s) or import"
                        " one (i) first.", title="Nothing to turn on", severity="warning")
            return
        saved = await self.call("turn the bot " + ("off" if row["enabled"] else "on"),
                                "set_bot_enabled", number_id=row["number_id"],
                                enabled=not row["enabled"])
        if saved is not None:
            self.took(saved)
            self.notify(f"The bot of {row['e164']} is {'on' if saved['enabled'] else 'off'}.",
                        timeout=3)

    def took(self, row: dict[str, Any]) -> None:
        """The relay's row for a number after a change: the list and the state line follow."""
        self.rows[row["number_id"]] = {**self.rows.get(row["number_id"], {}), **row}
        table = self.query_one("#bot-numbers", DataTable)
        table.update_cell(str(row["number_id"]), table.ordered_columns[0].key,
                          state_mark(self.rows[row["number_id"]]))
        self.show_state()

    def action_save(self) -> None:
        self.save()

    @work(exclusive=True, group="bot-relay")
    async def save(self) -> None:
        row = self.row
        if row is None:
            return
        if not self.unsaved:
            self.notify("Nothing changed.", timeout=3)
            return
        problems = self.current_problems()
        if problems:
            self.refuse("Not saved:\n" + problem_lines(problems))
            return
        source = self.source if self.source is not None else flow_to_toml(self.flow)
        await self.send(row, source, what="save the flow")

    async def send(self, row: dict[str, Any], source: str, *, what: str) -> bool:
        """``save_bot_flow``; the relay's refusal is shown where the problems are."""
        try:
            saved = await self.client.command("save_bot_flow", number_id=row["number_id"],
                                              source=source)
        except CommandError as error:
            self.refuse(f"The relay refused to {what}:\n{error.message or error.code}")
            return False
        self.rows[row["number_id"]] = saved
        self.took(saved)
        self.open_number(row["number_id"])
        self.notify(f"The flow of {row['e164']} is saved (version {saved.get('version')}).",
                    timeout=3)
        return True

    # --- import, export -------------------------------------------------------------------

    def action_import_flow(self) -> None:
        self.import_flow()

    async def ask_path(self, title: str, value: str = "") -> Path | None:
        """A file's path, typed by the admin (~ allowed); None when they changed their mind."""
        typed = await self.ask(TextPromptScreen(title, "path/to/flow.toml", value))
        return Path(typed.strip()).expanduser() if typed and typed.strip() else None

    def refuse(self, words: str) -> None:
        """Show why, where the problems are, and ring once."""
        self.show_problems(words)
        self.app.bell()

    @work(exclusive=True, group="bot-relay")
    async def import_flow(self) -> None:
        row = self.row
        path = await self.ask_path(f"Import a flow for {row['e164']}: the file") if row else None
        if row is None or path is None:
            return
        try:
            source = await asyncio.to_thread(path.read_text, "utf-8")
        except (OSError, UnicodeDecodeError) as error:
            words = getattr(error, "strerror", None) or str(error)
            self.refuse(f"Not imported: cannot read {path}: {words}")
            return
        try:
            flow = parse_flow(source)
        except FlowInvalid as invalid:
            self.refuse(f"Not imported: {path.name} has problems:\n"
                        + problem_lines(invalid.problems))
            return
        problems = problems_for_number(flow, mms=bool(row.get("mms")), groups=self.groups,
                                       fields=[key for key, _ in self.fields], source=source)
        if problems:
            self.refuse(f"Not imported: {path.name} cannot run on {row['e164']}:\n"
                        + problem_lines(problems))
            return
        if self.unsaved and not await self.ask(ConfirmScreen(
                f"Importing replaces the unsaved changes to {row['e164']}'s flow. Import?",
                yes="Import", no="Keep editing")):
            return
        await self.send(row, source, what=f"import {path.name}")

    def action_export_flow(self) -> None:
        self.export_flow()

    @work(exclusive=True, group="bot-relay")
    async def export_flow(self) -> None:
        row = self.row
        path = await self.ask_path(f"Export {row['e164']}'s flow to the file",
                                   default_export_path(row["e164"])) if row else None
        if row is None or path is None:
            return
        if await asyncio.to_thread(path.exists) and not await self.ask(ConfirmScreen(
                f"{path} exists. Replace it?", yes="Replace", no="Cancel")):
            return
        source = self.source if self.source is not None else flow_to_toml(self.flow)
        try:
            await asyncio.to_thread(path.write_text, source, "utf-8")
        except OSError as error:
            self.notify(f"Could not write {path}: {error.strerror}", title="Not exported",
                        severity="error")
            return
        unsaved = " (with the unsaved changes)" if self.unsaved else ""
        self.notify(f"Exported {row['e164']}'s flow{unsaved} to {path}.", timeout=5)


def _says(value: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(value) if isinstance(getattr(value, f.name), Say)]


def _find_attachment(value: Any, digest: str) -> Attachment:
    for name in _says(value):
        for attachment in getattr(value, name).attachments:
            if attachment.sha256 == digest:
                return attachment
    raise LookupError(digest)


def _swap_attachments(value: Any, stored: dict[str, Attachment]) -> Any:
    """The node with each stand-in attachment replaced by the one the relay stored."""
    changes = {}
    for name in _says(value):
        say: Say = getattr(value, name)
        changes[name] = dataclasses.replace(say, attachments=tuple(
            stored.get(a.sha256, a) for a in say.attachments))
    return dataclasses.replace(value, **changes)
