"""The contact view: the person behind a ticket and every ticket they ever had.

Why a screen of its own: one customer may text several business numbers and come
back after a ticket was closed (or deleted); each of those is a separate ticket,
and this is the one place that lists them together, newest first, each with the
number it came through and, once the customer rated one, its CSAT rating as stars.
Enter opens one (the inbox shows its thread), ``E`` edits the name, email, note
and phones, ``M`` (admins) merges another contact into this one. The screen asks
the relay itself (through the ``command`` it is given) and follows
``contact.updated`` and ``contact.merged`` while it is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.client import CommandError
from tui.mail_channel import shown_phone
from tui.model import opt_out_fields
from tui.widgets import render

Command = Callable[..., Awaitable[Any]]

#: How many tickets one request brings; "Load older" brings the next window.
WINDOW = 100
OLDER = "older"


def contact_summary(contact: dict[str, Any], phones: list[dict[str, Any]] | None = None) -> Text:
    """Name (or the phone), then every phone (each with its own STOP), email and note."""
    text = Text()
    text.append(contact.get("name") or shown_phone(contact.get("phone"))
                or contact.get("email", ""), style="bold")
    known = phones or [{"e164": contact.get("phone", ""),
                        "opted_out": bool(contact.get("opted_out"))}]
    # A contact known only by email has a stand-in phone (email:…): never shown as one.
    details = [p["e164"] + (" (opted out: STOP)" if p.get("opted_out") else "")
               for p in known if shown_phone(p["e164"])]
    if contact.get("email"):
        details.append(contact["email"])
    text.append("\n" + "  ·  ".join(d for d in details if d))
    if contact.get("note"):
        text.append("\n" + contact["note"], style="italic")
    return text



class ContactScreen(ModalScreen[dict[str, Any] | None]):
    """Dismissed with the ticket to open, or None."""

    CSS_PATH = "contact.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="contact.close"),
        Binding("E", "edit", "Edit contact", id="contact.edit"),
        Binding("M", "merge", "Merge another into this", id="contact.merge"),
        Binding("j", "move(1)", "Down", show=False, id="contact.down"),
        Binding("k", "move(-1)", "Up", show=False, id="contact.up"),
    ]

    def __init__(self, contact_id: int, command: Command,
                 edit: Callable[[dict[str, Any]], None] | None = None,
                 merge: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.contact_id = contact_id
        self.contact: dict[str, Any] = {}
        self.phones: list[dict[str, Any]] = []
        self._merge = merge
        self.items: list[dict[str, Any]] = []
        self.older: str | None = None
        self.loaded = False
        self._command = command
        self._edit = edit

    def compose(self) -> ComposeResult:
        with Vertical(id="contact-dialog"):
            yield Label("Contact", id="contact-title")
            yield Static("Loading…", id="contact-summary")
            yield OptionList(id="contact-tickets")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.load()

    @work(exclusive=True, group="contact")
    async def load(self) -> None:
        try:
            found = await self._command("get_contact", contact_id=self.contact_id)
            page = await self._command("contact_tickets", contact_id=self.contact_id,
                                       limit=WINDOW)
        except CommandError as error:
            self.query_one("#contact-summary", Static).update(Text(str(error)))
            return
        self.items = list(page["items"])
        self.older = page.get("older")
        self.contact = {}
        self.show_contact(found["contact"], found.get("phones"))
        self._show_tickets()
        self.loaded = True

    def show_contact(self, contact: dict[str, Any],
                     phones: list[dict[str, Any]] | None = None) -> None:
        """Called when it loads and when another agent (or this one) changes it."""
        self.contact = {**self.contact, **contact}
        if phones is not None:
            self.phones = list(phones)
        self.query_one("#contact-summary", Static).update(
            contact_summary(self.contact, self.phones))
        count = len(self.items)
        more = "+" if self.older else ""
        self.query_one("#contact-title", Label).update(
            f"Contact · {count}{more} ticket{'s' if count != 1 else ''}, newest first")

    def _show_tickets(self) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        rated = any(item.get("csat_rating") is not None for item in self.items)
        options.add_options([Option(render.person_ticket_line(item, 40, ratings=rated),
                                    id=str(item["ticket"]["id"])) for item in self.items])
        if self.older:
            options.add_option(Option(Text("Load older tickets…", style="dim"), id=OLDER))
        if self.items:
            options.highlighted = min(highlighted or 0, options.option_count - 1)
        self.show_contact({})

    @on(OptionList.OptionSelected, "#contact-tickets")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == OLDER:
            self.load_older()
            return
        item = next(i for i in self.items if str(i["ticket"]["id"]) == event.option.id)
        phone = item["ticket"].get("customer_phone") or shown_phone(self.contact.get("phone"))
        self.dismiss({"ticket": item["ticket"], "contact_name": self.contact.get("name", ""),
                      "contact_phone": phone,
                      **opt_out_fields(item["ticket"], self.contact,
                                       item.get("opted_out_number_ids"))})

    @work(exclusive=True, group="contact")
    async def load_older(self) -> None:
        if self.older is None:
            return
        try:
            page = await self._command("contact_tickets", contact_id=self.contact_id,
                                       before=self.older, limit=WINDOW)
        except CommandError as error:
            self.notify(str(error), title="Could not load older tickets", severity="error")
            return
        self.items += list(page["items"])
        self.older = page.get("older")
        self._show_tickets()

    def contact_changed(self, kind: str, payload: dict[str, Any]) -> None:
        """A ``contact.updated`` or ``contact.merged`` event: shown at once if it is about
        this person; merged away, the view follows the contact it joined."""
        contact = payload.get("contact") or {}
        if kind == "contact.merged" and self.contact_id in (contact.get("id"),
                                                            payload.get("merged_id")):
            self.contact_id = contact.get("id", self.contact_id)
            self.load()
        elif contact.get("id") == self.contact_id and self.loaded:
            self.show_contact(contact, payload.get("phones"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "merge":
            return self._merge is not None
        return True

    def action_edit(self) -> None:
        if self._edit is not None and self.contact:
            self._edit({**self.contact, "phones": self.phones})

    def action_merge(self) -> None:
        if self._merge is not None and self.contact:
            self._merge(self.contact)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_close(self) -> None:
        self.dismiss(None)
