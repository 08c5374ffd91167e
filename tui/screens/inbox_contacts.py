"""The inbox's contact keys: ``C`` the contact view, ``E`` the contact form.

Why a mixin of its own: the inbox screen routes keys and events; what a contact key
does (which person it means, which screen it opens, how an open contact view follows
a change) lives here, so the screen grows by a binding and a base class only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import work

from tui.client import CommandError
from tui.screens.contact import ContactScreen
from tui.screens.contact_form import ContactFormScreen

if TYPE_CHECKING:
    from textual.app import App

    from tui.widgets.ticket_list import TicketList


class ContactActions:
    """``action_`` methods for the person behind a ticket; mixed into ``InboxScreen``."""

    if TYPE_CHECKING:  # what the inbox screen provides
        app: App[Any]
        tickets: TicketList
        open_row: dict[str, Any] | None
        focused: Any
        showing: bool

        def command(self, name: str, /, **args: Any) -> Awaitable[Any]: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
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
        screen = ContactScreen(row["ticket"]["contact_id"], self.command,
                               edit=self._edit_contact)
        self._pick(screen, self.open_ticket)

    def action_edit_contact(self) -> None:
        row = self._contact_row()
        if row is None:
            self.notify("No ticket here.", severity="warning")
            return
        self._edit_contact_of(row["ticket"]["contact_id"])

    @work(group="contact")
    async def _edit_contact_of(self, contact_id: int) -> None:
        try:
            found = await self.command("get_contact", contact_id=contact_id)
        except CommandError as error:
            self.notify(str(error), title="Could not load the contact", severity="error")
            return
        if self.showing:
            self._edit_contact(found["contact"])

    def _edit_contact(self, contact: dict[str, Any]) -> None:
        async def save(changes: dict[str, str]) -> Any:
            return await self.command("update_contact", contact_id=contact["id"], **changes)

        self.app.push_screen(ContactFormScreen(contact, save))

    def _tell_contact_views(self, contact: dict[str, Any]) -> None:
        """A contact view open on this person shows the change at once."""
        for screen in self.app.screen_stack:
            if isinstance(screen, ContactScreen) and screen.contact_id == contact.get("id") \
                    and screen.loaded:
                screen.show_contact(contact)

