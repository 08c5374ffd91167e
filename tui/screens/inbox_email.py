"""The inbox's email glue (issue 12): what the composer needs to offer email, and the original.

Why a mixin of its own: the inbox screen routes keys and events; what email adds (whether
the desk's email is set up, the open contact's address, the offer to add one, the full
original of a customer's mail) lives here, so the screen grows by a few calls only.

The contact's address is not in the ticket list's rows, so it is asked (``get_contact``)
when email is in play: on a desk whose email is set up, in a thread that has email in
it, or when the agent presses the switch. A desk without email costs no extra command.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual import work

from tui.client import CommandError
from tui.mail_channel import (
    NO_EMAIL_KNOWN,
    EmailChannel,
    default_channel,
    last_email_subject,
)
from tui.screens.mail_original import MailOriginalScreen, read_original
from tui.screens.pickers import ConfirmScreen
from tui.widgets.composer import ComposeContext, Composer
from tui.widgets.thread_view import ThreadView

if TYPE_CHECKING:
    from textual.app import App

    from tui.client import RelayClient
    from tui.model import ThreadState


class EmailActions:
    """Email for the open ticket; mixed into ``InboxScreen``."""

    if TYPE_CHECKING:  # what the inbox screen provides
        app: App[Any]
        client: RelayClient
        open_row: dict[str, Any] | None
        thread_state: ThreadState | None
        showing: bool
        composer: Composer

        def command(self, name: str, /, **args: Any) -> Awaitable[Any]: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def _refresh_compose_context(self) -> None: ...
        def _edit_contact_of(self, contact_id: int, focus: str = "name") -> None: ...

    email_channel: EmailChannel = NO_EMAIL_KNOWN
    # Contacts' addresses as last heard: contact id -> email ("" none); absent: not asked.
    # Set by the inbox's __init__.
    contact_emails: dict[int, str]

    # --- what the relay tells -----------------------------------------------------------

    async def load_email_channel(self) -> None:
        """Asked at start (every agent may ask ``get_email_channel``); kept up to date by
        the ``email_settings.updated`` events."""
        try:
            settings = await self.command("get_email_channel")
        except CommandError:
            return  # a relay without email: the channel stays unknown, the relay judges sends
        self.email_channel = EmailChannel.from_wire(settings)
        if self.showing:
            self._refresh_compose_context()

    def email_event(self, kind: str, payload: dict[str, Any]) -> None:
        """``email_settings.updated`` (every agent hears it) and a contact's new address."""
        if kind == "email_settings.updated" and isinstance(payload.get("email_settings"), dict):
            self.email_channel = EmailChannel.from_wire(payload["email_settings"])
            self._refresh_compose_context()
        elif kind in ("contact.updated", "contact.merged"):
            contact = payload.get("contact") or {}
            if contact.get("id") is not None and "email" in contact:
                self.contact_emails[contact["id"]] = str(contact.get("email") or "")

    def email_follows(self, row: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        """A ticket opened: ask for its contact's address where email is in play."""
        contact_id = row["ticket"].get("contact_id")
        in_play = self.email_channel.enabled is True or any(
            entry.get("channel") == "email" for entry in entries)
        if contact_id is not None and in_play and contact_id not in self.contact_emails:
            self._load_contact_email(contact_id)

    @work(group="contact-email")
    async def _load_contact_email(self, contact_id: int, then_switch: bool = False) -> None:
        try:
            found = await self.command("get_contact", contact_id=contact_id)
        except CommandError as error:
            self.notify(str(error), title="Could not load the contact's email",
                        severity="warning")
            return
        self.contact_emails[contact_id] = str((found.get("contact") or {}).get("email") or "")
        if not self.showing:
            return
        self._refresh_compose_context()
        context = self.composer.context
        if then_switch and context is not None and context.contact.id == contact_id:
            self.composer.switch_channel()

    def with_email(self, context: ComposeContext) -> ComposeContext:
        """The composer's context with what the inbox knows of email for this ticket."""
        entries = self.thread_state.entries if self.thread_state is not None \
            and self.thread_state.ticket_id == context.ticket_id else []
        ticket = (self.open_row or {}).get("ticket") or {}
        return replace(
            context,
            contact_email=self.contact_emails.get(context.contact.id),
            email=self.email_channel,
            default_channel=default_channel(entries),
            email_subject=last_email_subject(entries) or str(ticket.get("subject") or ""),
        )

    # --- the composer asks --------------------------------------------------------------

    def on_composer_address_wanted(self, message: Composer.AddressWanted) -> None:
        self._load_contact_email(message.context.contact.id, then_switch=True)

    def on_composer_address_missing(self, message: Composer.AddressMissing) -> None:
        """Email was refused for want of an address: offer to add one, in the contact form."""
        contact_id = message.context.contact.id
        question = f"{message.why}. Add an email address to the contact now?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._edit_contact_of(contact_id, focus="email")

        self.app.push_screen(ConfirmScreen(question, yes="Add an email", no="Not now"),
                             answered)

    # --- the full original of a customer's mail -------------------------------------------

    def on_thread_view_original_wanted(self, message: ThreadView.OriginalWanted) -> None:
        self._show_original(message.entry)

    @work(group="original")
    async def _show_original(self, entry: dict[str, Any]) -> None:
        original = entry.get("mail_original") or {}
        try:
            found = await self.command("fetch_media", sha256=original["sha256"])
        except CommandError as error:
            self.notify(str(error), title="Could not fetch the original email",
                        severity="warning")
            return
        data = await asyncio.to_thread(base64.b64decode, found["data"])
        original = await asyncio.to_thread(read_original, data)
        if self.showing:
            self.app.push_screen(MailOriginalScreen(original,
                                                    subject=str(entry.get("subject") or "")))

