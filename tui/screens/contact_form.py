"""A small form for a contact's name, email, phones and note; the relay's refusal shows
inline.

Why the form waits for the relay: the relay is the one that checks an email
(syntax, normalized) and a name's length, and only it can say no. So Ctrl+S
sends ``update_contact`` and the form closes only when the relay took it; a
refusal ("'jordan@' is not a valid email address: ...", "+15125550188 is Sam
Kim's phone: ... merge the two contacts") stays on the form under the fields,
and the agent fixes it there. Phones are typed comma-separated, in any format.
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
from textual.widgets import Input, Label, Static, TextArea

from tui.client import CommandError
from tui.mail_channel import shown_phone

Save = Callable[[dict[str, Any]], Awaitable[Any]]


class ContactFormScreen(ModalScreen[dict[str, Any] | None]):
    """Dismissed with the contact as the relay saved it, or None when left."""

    CSS_PATH = "contact_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="contact_form.save"),
        Binding("escape", "cancel", "Cancel", id="contact_form.cancel"),
    ]

    def __init__(self, contact: dict[str, Any], save: Save, *, focus: str = "name") -> None:
        """``focus`` names the field the agent came for ("name", "email", "phones")."""
        super().__init__()
        self.contact = contact
        self._save = save
        self._focus = focus

    def compose(self) -> ComposeResult:
        with Vertical(id="contact-form"):
            who = shown_phone(self.contact.get("phone")) or self.contact.get("email", "")
            yield Label(f"Edit contact {who}", id="contact-form-title",
                        markup=False)
            yield Label("Name")
            yield Input(value=self.contact.get("name", ""), id="contact-name")
            yield Label("Email")
            yield Input(value=self.contact.get("email", ""), placeholder="name@example.com",
                        id="contact-email")
            yield Label("Phones (comma-separated, any format)")
            yield Input(value=", ".join(self.phones()), placeholder="+15125550133",
                        id="contact-phones")
            yield Label("Note")
            yield TextArea(self.contact.get("note", ""), id="contact-note")
            yield Static("", id="contact-form-error")
            yield Label("Ctrl+S save · Esc cancel", classes="contact-form-hint")

    def on_mount(self) -> None:
        self.query_one(f"#contact-{self._focus}", Input).focus()

    def phones(self) -> list[str]:
        """The contact's phones as it came (its first phone when the list is unknown)."""
        return [phone for phone in self._all_phones() if shown_phone(phone)]

    def _all_phones(self) -> list[str]:
        known = self.contact.get("phones") or [{"e164": self.contact.get("phone", "")}]
        return [p["e164"] for p in known if p.get("e164")]

    def changes(self) -> dict[str, Any]:
        """The fields that differ from what the contact has now (phones as a list)."""
        typed = {"name": self.query_one("#contact-name", Input).value,
                 "email": self.query_one("#contact-email", Input).value,
                 "note": self.query_one("#contact-note", TextArea).text}
        changed: dict[str, Any] = {k: v for k, v in typed.items()
                                   if v != self.contact.get(k, "")}
        phones = [p.strip() for p in self.query_one("#contact-phones", Input).value.split(",")
                  if p.strip()]
        if phones != self.phones():
            # The stand-in of a contact known only by email (never shown) stays theirs.
            changed["phones"] = phones + [p for p in self._all_phones() if not shown_phone(p)]
        return changed

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#contact-form-error", Static).update("")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        changes = self.changes()
        if not changes:
            self.dismiss(None)
            return
        self._send(changes)

    @work(exclusive=True, group="contact-form")
    async def _send(self, changes: dict[str, Any]) -> None:
        try:
            saved = await self._save(changes)
        except CommandError as error:
            self.query_one("#contact-form-error", Static).update(Text(str(error)))
            return
        self.dismiss(saved)

    def action_cancel(self) -> None:
        self.dismiss(None)
