"""The Canned tab (6): the shared library of canned responses and its folders.

The editor counts the body's segments as it is typed (the customer pays per segment)
and names any ``{{placeholder}}`` smsdesk will not fill, so a typo is caught here,
not in front of a customer. Agents keep their personal responses from the composer;
this tab is the shared library, which only admins change (the relay checks).
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Select, Static, TextArea

from core.placeholders import FIXED_NAMES, is_known, placeholders_in
from core.sms import analyze
from tui.screens.admin import AdminPane, keep_cursor, table_row_key
from tui.screens.pickers import ConfirmScreen, TextPromptScreen


def body_words(body: str) -> Text:
    """The live line under the body: its cost, and the placeholders smsdesk will not fill."""
    cost = analyze(body)
    text = Text(f"{cost.encoding} · {cost.characters} characters · {cost.segments} segment"
                f"{'s' if cost.segments != 1 else ''}")
    unknown = [p.name for p in placeholders_in(body) if not is_known(p.name)]
    if unknown:
        text.append(f"\nUnknown placeholder{'s' if len(unknown) > 1 else ''}: "
                    + ", ".join(dict.fromkeys("{{" + n + "}}" for n in unknown))
                    + " (it would stay as typed). Known: "
                    + ", ".join("{{" + n + "}}" for n in FIXED_NAMES)
                    + ", {{ticket.<field key>}}.", style="bold")
    return text


class CannedEditor(ModalScreen["dict[str, Any] | None"]):
    """A shared response's title, folder, body and attachment; ctrl+s saves, esc cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "canned.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="admin.canned_save"),
        Binding("escape", "cancel", "Cancel", show=False, id="admin.canned_cancel"),
    ]

    def __init__(self, response: dict[str, Any] | None,
                 folders: list[dict[str, Any]]) -> None:
        super().__init__()
        self.response = response or {}
        self.folders = folders

    def compose(self) -> ComposeResult:
        title = "Edit the response" if self.response else "New shared response"
        with Vertical(classes="picker-dialog", id="canned-editor"):
            yield Label(title, classes="picker-title", markup=False)
            yield Input(self.response.get("title", ""), placeholder="title", id="canned-title")
            yield Select([(f["name"], f["id"]) for f in self.folders], prompt="(no folder)",
                         value=self.response.get("folder_id") or Select.NULL,
                         id="canned-folder")
            yield TextArea(self.response.get("body", ""), soft_wrap=True, id="canned-body")
            yield Static(id="canned-count", classes="picker-hint")
            kept = ", ".join(m.get("filename") or m["sha256"][:12]
                             for m in self.response.get("media") or [])
            yield Input(placeholder="attach a file: its path (optional)", id="canned-file")
            yield Static(f"Attached: {kept}" if kept else "", classes="picker-hint")
            yield Static("", id="canned-error", classes="picker-error")
            yield Static("ctrl+s saves · esc cancels", classes="picker-hint")

    def on_mount(self) -> None:
        self._count()
        self.query_one("#canned-title", Input).focus()

    @on(TextArea.Changed, "#canned-body")
    def _count(self) -> None:
        self.query_one("#canned-count", Static).update(
            body_words(self.query_one("#canned-body", TextArea).text))

    def action_save(self) -> None:
        folder = self.query_one("#canned-folder", Select).value
        wanted = {"title": self.query_one("#canned-title", Input).value,
                  "body": self.query_one("#canned-body", TextArea).text,
                  "folder_id": folder if isinstance(folder, int) else None,
                  "file": self.query_one("#canned-file", Input).value.strip()}
        if not wanted["title"].strip():
            self.query_one("#canned-error", Static).update("A response needs a title.")
            return
        self.dismiss(wanted)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FoldersTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_folder')", "New folder", id="admin.add_canned_folder"),
        Binding("e", "pane('rename_folder')", "Rename folder", id="admin.rename_canned_folder"),
        Binding("d", "pane('delete_folder')", "Delete folder", id="admin.delete_canned_folder"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(CannedPane), name)()


class ResponsesTable(DataTable[str]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "pane('add_response')", "New response", id="admin.add_canned"),
        Binding("e,enter", "pane('edit_response')", "Edit", id="admin.edit_canned"),
        Binding("d", "pane('delete_response')", "Delete", id="admin.delete_canned"),
    ]

    def action_pane(self, name: str) -> None:
        getattr(self.query_ancestor(CannedPane), name)()


class CannedPane(AdminPane):
    """Shared responses above (with their folder), folders below; tab moves between them."""

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.folders: dict[int, dict[str, Any]] = {}
        self.responses: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Label("Shared canned responses", classes="canned-heading")
        responses = ResponsesTable(cursor_type="row", zebra_stripes=True, id="canned-table")
        responses.add_columns("Title", "Folder", "Text", "Files")
        yield responses
        yield Label("Folders", classes="canned-heading")
        folders = FoldersTable(cursor_type="row", zebra_stripes=True, id="canned-folders")
        folders.add_columns("Name", "Responses")
        yield folders

    async def reload(self) -> None:
        library = await self.call("load the canned responses", "list_canned")
        if library is None:
            return
        self.loaded = True
        self.folders = {f["id"]: f for f in library["folders"]}
        shared = [r for r in library["responses"] if r.get("owner_agent_id") is None]
        table = self.query_one(ResponsesTable)
        current = table_row_key(table)
        table.clear()
        self.responses = {}
        for response in shared:
            key = str(response["id"])
            self.responses[key] = response
            folder = self.folders.get(response.get("folder_id") or 0, {}).get("name", "")
            body = " ".join(response["body"].split())
            table.add_row(response["title"], folder, body[:50] + ("…" if len(body) > 50 else ""),
                          str(len(response.get("media") or [])), key=key)
        keep_cursor(table, current)
        folders = self.query_one(FoldersTable)
        current = table_row_key(folders)
        folders.clear()
        for folder in library["folders"]:
            held = sum(1 for r in shared if r.get("folder_id") == folder["id"])
            folders.add_row(folder["name"], str(held), key=str(folder["id"]))
        keep_cursor(folders, current)

    def _current_response(self) -> dict[str, Any] | None:
        key = table_row_key(self.query_one(ResponsesTable))
        return self.responses.get(key) if key is not None else None

    def _current_folder(self) -> dict[str, Any] | None:
        key = table_row_key(self.query_one(FoldersTable))
        return self.folders.get(int(key)) if key is not None else None

    # --- responses ------------------------------------------------------------------

    def add_response(self) -> None:
        self.edit(None)

    def edit_response(self) -> None:
        response = self._current_response()
        if response is not None:
            self.edit(response)

    @work(exclusive=True, group="canned")
    async def edit(self, response: dict[str, Any] | None) -> None:
        wanted = await self.ask(CannedEditor(response, list(self.folders.values())))
        if wanted is None:
            return
        media = list((response or {}).get("media") or [])
        if wanted["file"]:
            uploaded = await self._upload(Path(wanted["file"]).expanduser())
            if uploaded is None:
                return
            media.append(uploaded)
        args: dict[str, Any] = {"title": wanted["title"], "body": wanted["body"],
                                "folder_id": wanted["folder_id"], "media": media}
        if response is not None:
            args["response_id"] = response["id"]
        if await self.call("save the response", "save_canned", **args) is not None:
            await self.reload()

    async def _upload(self, path: Path) -> dict[str, Any] | None:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as error:
            self.notify(f"Could not read {path}: {error.strerror}", severity="error")
            return None
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return await self.call("attach the file", "upload_media", content_type=kind,
                               data=base64.b64encode(data).decode("ascii"), filename=path.name)

    @work(exclusive=True, group="canned")
    async def delete_response(self) -> None:
        response = self._current_response()
        if response is not None and await self.ask(ConfirmScreen(
                f"Delete the shared response “{response['title']}” for everyone?")) and \
                await self.call("delete the response", "delete_canned",
                                response_id=response["id"]) is not None:
            await self.reload()

    # --- folders ----------------------------------------------------------------------

    @work(exclusive=True, group="canned")
    async def add_folder(self) -> None:
        name = await self.ask(TextPromptScreen("New folder", "e.g. Billing"))
        if name and await self.call("add the folder", "save_canned_folder",
                                    name=name) is not None:
            await self.reload()

    @work(exclusive=True, group="canned")
    async def rename_folder(self) -> None:
        folder = self._current_folder()
        if folder is None:
            return
        name = await self.ask(TextPromptScreen("Rename the folder", "", folder["name"]))
        if name and await self.call("rename the folder", "save_canned_folder",
                                    folder_id=folder["id"], name=name) is not None:
            await self.reload()

    @work(exclusive=True, group="canned")
    async def delete_folder(self) -> None:
        folder = self._current_folder()
        if folder is not None and await self.ask(ConfirmScreen(
                f"Delete the folder “{folder['name']}”?")) and await self.call(
                "delete the folder", "delete_canned_folder", folder_id=folder["id"]) is not None:
            await self.reload()
