"""The inbox's contact keys: ``C`` the contact view, ``E`` the contact form, and from the
contact view an admin's ``M``: merging another contact into this one.

Why a mixin of its own: the inbox screen routes keys and events; what a contact key
does (which person it means, which screen it opens, how an open contact view follows
a change) lives here, so the screen grows by a binding and a base class only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import work

from core.phones import NotAPhoneNumber, understood
from tui.client import CommandError
from tui.model import opt_out_fields
from tui.screens.contact import ContactScreen
from tui.screens.contact_form import ContactFormScreen
from tui.screens.pickers import ChoiceScreen, ConfirmScreen, TextPromptScreen
from tui.widgets.earlier import EarlierConversations

if TYPE_CHECKING:
    from textual.app import App

    from tui.client import RelayClient
    from tui.widgets.thread_view import ThreadView
    from tui.widgets.ticket_list import TicketList


class ContactActions:
    """``action_`` methods for the person behind a ticket; mixed into ``InboxScreen``."""

    if TYPE_CHECKING:  # what the inbox screen provides
        app: App[Any]
        client: RelayClient
        tickets: TicketList
        thread: ThreadView
        open_row: dict[str, Any] | None
        focused: Any
        showing: bool

        def command(self, name: str, /, **args: Any) -> Awaitable[Any]: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def query(self, selector: Any) -> Any: ...
        def _pick(self, screen: Any, then: Callable[[Any], None]) -> None: ...
        async def open_ticket(self, row: dict[str, Any], then: str | None = None) -> None: ...

    def _contact_row(self) -> dict[str, Any] | None:
        """The ticket whose person ``C`` and ``E`` mean: the highlighted row while the list
        has focus (a search result, say), otherwise the open ticket."""
        if self.focused is self.tickets or self.open_row is None:
            return self.tickets.current() or self.open_row
        return self.open_row

    def action_contact_view(self) -> None:
        row = self._contact_row()
        if row is None:
            self.notify("No ticket here.", severity="warning")
            return
        admin = (self.client.agent or {}).get("role") == "admin"
        screen = ContactScreen(row["ticket"]["contact_id"], self.command,
                               edit=self._edit_contact,
                               merge=self._merge_into if admin else None)
        self._pick(screen, self.open_ticket)

    def action_edit_contact(self) -> None:
        row = self._contact_row()
        if row is None:
            self.notify("No ticket here.", severity="warning")
            return
        self._edit_contact_of(row["ticket"]["contact_id"])

    @work(group="contact")
    async def _edit_contact_of(self, contact_id: int, focus: str = "name") -> None:
        try:
            found = await self.command("get_contact", contact_id=contact_id)
        except CommandError as error:
            self.notify(str(error), title="Could not load the contact", severity="error")
            return
        if self.showing:
            self._edit_contact({**found["contact"], "phones": found.get("phones") or []},
                               focus)

    def _edit_contact(self, contact: dict[str, Any], focus: str = "name") -> None:
        async def save(changes: dict[str, Any]) -> Any:
            return await save_contact(self.command, contact["id"], changes)

        self.app.push_screen(ContactFormScreen(contact, save, focus=focus))

    def _tell_contact_views(self, kind: str, payload: dict[str, Any]) -> None:
        """A contact view open on this person (or on one merged away) shows it at once."""
        for screen in self.app.screen_stack:
            if isinstance(screen, ContactScreen):
                screen.contact_changed(kind, payload)

    # --- earlier conversations above the thread (H) ---------------------------------

    def action_earlier(self) -> None:
        """The person's other tickets above the thread, or hidden again: one key both ways."""
        panel = self._earlier_panel()
        if panel.display:
            panel.display = False
            self.thread.focus()
            return
        if self.open_row is None:
            self.notify("Open a ticket first.", severity="warning")
            return
        self._load_earlier(self.open_row["ticket"])

    def earlier_follows(self, ticket: dict[str, Any]) -> None:
        """Another ticket opened: shown earlier conversations become that person's."""
        panel = self._earlier_panel()
        if panel.display and panel.ticket_id != ticket["id"]:
            self._load_earlier(ticket, focus=False)

    def _earlier_panel(self) -> EarlierConversations:
        found = self.query(EarlierConversations)
        if found:
            return found.first()
        panel = EarlierConversations(id="earlier")
        panel.display = False
        self.thread.parent.mount(panel, before=self.thread)
        return panel

    @work(group="earlier", exclusive=True)
    async def _load_earlier(self, ticket: dict[str, Any], *, more: bool = False,
                            focus: bool = True) -> None:
        panel = self._earlier_panel()
        try:
            page = await self.command("contact_tickets", contact_id=ticket["contact_id"],
                                      before=panel.older if more else None,
                                      limit=EARLIER_WINDOW)
        except CommandError as error:
            self.notify(str(error), title="Could not load earlier conversations",
                        severity="error")
            return
        if not self.showing or (self.open_row or {}).get("ticket", {}).get("id") != ticket["id"]:
            return  # another ticket was opened meanwhile
        panel.show_window(ticket["id"], list(page["items"]), page.get("older"), more=more)
        panel.display = True
        if focus and not more:
            panel.focus()

    def on_earlier_conversations_chosen(self, message: EarlierConversations.Chosen) -> None:
        ticket = message.item["ticket"]
        row = self.open_row or {}
        self.open_ticket({"ticket": ticket, "contact_name": row.get("contact_name", ""),
                          "contact_phone": ticket.get("customer_phone", ""),
                          **opt_out_fields(ticket, {}, message.item.get("opted_out_number_ids"))})

    def on_earlier_conversations_wants_older(self, message: EarlierConversations.WantsOlder,
                                             ) -> None:
        if self.open_row is not None:
            self._load_earlier(self.open_row["ticket"], more=True)

    # --- merging two contacts who are one person (admins) ---------------------------

    def _merge_into(self, keep: dict[str, Any]) -> None:
        """Find the other contact by name or number, then confirm what will move."""
        self._pick(TextPromptScreen(f"Merge into {who(keep)}: find the other contact",
                                    "a name or a phone number", ""),
                   lambda text: text.strip() and self._find_to_merge(keep, text.strip()))

    @work(group="contact")
    async def _find_to_merge(self, keep: dict[str, Any], text: str) -> None:
        try:
            found = await self.command("list_tickets", text=text, limit=100)
        except CommandError as error:
            self.notify(str(error), title="Could not search", severity="error")
            return
        people = other_contacts(found.get("items") or [], keep["id"])
        if not people:
            self.notify(f"No other contact matches “{text}”.", severity="warning")
            return
        self._pick(ChoiceScreen(f"Which contact is {who(keep)} too?", people),
                   lambda other: other is not None and self._confirm_merge(keep, other))

    @work(group="contact")
    async def _confirm_merge(self, keep: dict[str, Any], other_id: int) -> None:
        try:
            other = await self.command("get_contact", contact_id=other_id)
            tickets = await self.command("contact_tickets", contact_id=other_id, limit=100)
        except CommandError as error:
            self.notify(str(error), title="Could not load the contact", severity="error")
            return
        self._pick(ConfirmScreen(merge_question(keep, other, tickets), yes="Merge"),
                   lambda yes: yes and self._merge(keep["id"], other_id))

    @work(group="contact")
    async def _merge(self, keep_id: int, other_id: int) -> None:
        try:
            merged = await self.command("merge_contacts", contact_id=keep_id,
                                        merge_contact_id=other_id)
        except CommandError as error:
            self.notify(str(error), title="Could not merge", severity="error")
            return
        self.notify(f"Merged into {who(merged['contact'])}: "
                    f"{len(merged['ticket_ids'])} tickets moved.", timeout=4)


def who(contact: dict[str, Any]) -> str:
    return contact.get("name") or contact.get("phone") or f"contact {contact.get('id')}"


def other_contacts(items: list[dict[str, Any]], keep_id: int) -> list[tuple[str, int]]:
    """The distinct contacts a search found, but the one kept, as picker choices."""
    seen: dict[int, str] = {}
    for item in items:
        contact_id = item["ticket"]["contact_id"]
        if contact_id != keep_id and contact_id not in seen:
            name, phone = item.get("contact_name") or "", item.get("contact_phone") or ""
            seen[contact_id] = f"{name} · {phone}" if name else phone
    return [(label, contact_id) for contact_id, label in seen.items()]


def merge_question(keep: dict[str, Any], other: dict[str, Any], tickets: dict[str, Any]) -> str:
    """What a merge will do, in words, before the admin says yes."""
    person = other["contact"]
    count = f"{len(tickets.get('items') or [])}{'+' if tickets.get('older') else ''}"
    phones = ", ".join(p["e164"] for p in other.get("phones") or []) or person.get("phone", "")
    return (f"Merge {who(person)} into {who(keep)}? Their {count} ticket(s) and phone(s)"
            f" {phones} move to {who(keep)}, and the contact {who(person)} is removed."
            f" {who(keep)}'s name, email and note stay (an empty one takes theirs)."
            " This cannot be undone.")


async def save_contact(command: Callable[..., Awaitable[Any]], contact_id: int,
                       changes: dict[str, Any]) -> Any:
    """The form's changes as relay commands: name, email and note in one; each phone added
    or removed against the phones the contact has now (typed in any format)."""
    fields = {k: v for k, v in changes.items() if k in ("name", "email", "note")}
    saved = await command("update_contact", contact_id=contact_id, **fields) if fields else None
    if "phones" not in changes:
        return saved
    now = [p["e164"] for p in (await command("get_contact", contact_id=contact_id))["phones"]]
    typed = [as_e164(phone) for phone in changes["phones"]]
    for phone in typed:
        if phone not in now:
            await command("add_contact_phone", contact_id=contact_id, phone=phone)
    for phone in now:
        if phone not in typed:
            await command("remove_contact_phone", contact_id=contact_id, phone=phone)
    return (await command("get_contact", contact_id=contact_id))["contact"]


def as_e164(typed: str) -> str:
    """A typed phone as E.164 when it reads as one; else as typed, for the relay to refuse
    in its own words."""
    try:
        return understood(typed).e164
    except NotAPhoneNumber:
        return typed


#: How many earlier conversations one request brings; "Load older" brings the next.
EARLIER_WINDOW = 20
