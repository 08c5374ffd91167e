"""The inbox's ticket-field keys: the details pane (``i``), the fields form (``e``) and the
activity history (``Y``), kept out of inbox.py, which only lists the keys and mixes this in.

The pane follows the inbox's own state: ``open_row`` (the open ticket, replaced on
each event for it) and ``open_time`` (its time logged) are properties here, so the
pane is redrawn exactly when they change and never as the list's cursor moves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from textual import work

from tui.client import CommandError
from tui.screens.activity_history import PAGE, ActivityHistory
from tui.screens.fields_form import FieldsForm
from tui.widgets.details_pane import DetailsPane, field_defs

if TYPE_CHECKING:
    from core.fields import FieldDef

logger = logging.getLogger(__name__)

#: Events whose names the pane shows: it is drawn again when one comes.
NAME_EVENTS = frozenset({"group.updated", "agent.updated"})


class FieldActions:
    """Mixed into ``InboxScreen``: relies on its ``command``, ``names``, ``notify``,
    ``query_one``, ``showing`` and ``app``."""

    ready = False  # the inbox's own flag, set once it is mounted (read through ``showing``)
    _open_row: dict[str, Any] | None = None
    _open_time: dict[str, Any] | None = None
    fields: list[FieldDef] | None = None  # the admin's fields, once loaded
    open_facts: dict[str, Any] | None = None  # the open ticket's response times

    # --- the inbox's state, watched ----------------------------------------------

    @property
    def open_row(self) -> dict[str, Any] | None:
        return self._open_row

    @open_row.setter
    def open_row(self, row: dict[str, Any] | None) -> None:
        before = self._open_row
        self._open_row = row
        if row is None or before is None or before["ticket"]["id"] != row["ticket"]["id"]:
            self.open_facts = None
            if row is not None and self._pane_open():
                self._load_facts(row["ticket"]["id"])
        self._show_details()

    @property
    def open_time(self) -> dict[str, Any] | None:
        return self._open_time

    @open_time.setter
    def open_time(self, time: dict[str, Any] | None) -> None:
        self._open_time = time
        self._show_details()

    # --- the details pane ---------------------------------------------------------

    def _pane(self) -> DetailsPane | None:
        if not self.showing:
            return None
        return self.query_one(DetailsPane)

    def _pane_open(self) -> bool:
        pane = self._pane()
        return pane is not None and bool(pane.display)

    def _show_details(self) -> None:
        pane = self._pane()
        if pane is None or not pane.display:
            return
        facts = None
        if self.open_facts is not None:
            logged = (self._open_time or {}).get("total_seconds")
            facts = {**self.open_facts, "logged_seconds": logged}
        pane.show(self._open_row, self.names, self.fields or [], facts)

    def action_details(self) -> None:
        """Show or hide the open ticket's fields beside its thread."""
        pane = self._pane()
        if pane is None:
            return
        pane.display = not pane.display
        pane.forget()
        if not pane.display:
            return
        if self.fields is None:
            self._load_fields()
        if self._open_row is not None and self.open_facts is None:
            self._load_facts(self._open_row["ticket"]["id"])
        self._show_details()

    @work(exclusive=True, group="fields")
    async def _load_fields(self) -> None:
        try:
            await self._fields_loaded()
        except CommandError as error:
            self.notify(str(error), title="Could not load the ticket fields",
                        severity="warning")

    async def _fields_loaded(self) -> list[FieldDef]:
        if self.fields is None:
            self.fields = field_defs(await self.command("list_fields"))
            self._show_details()
        return self.fields

    @work(exclusive=True, group="facts")
    async def _load_facts(self, ticket_id: int) -> None:
        try:
            facts = await self.command("ticket_facts", ticket_id=ticket_id)
        except CommandError as error:
            logger.info("could not load the facts of #%s: %s", ticket_id, error)
            return
        if self._open_row is not None and self._open_row["ticket"]["id"] == ticket_id:
            self.open_facts = facts
            self._show_details()

    def details_follow(self, event: dict[str, Any]) -> None:
        """Called for every relay event: the fields' definitions, the open ticket's
        response times, and names the pane shows."""
        kind = event.get("kind", "")
        payload = event.get("payload") or {}
        if kind == "field.updated" and isinstance(payload.get("fields"), list):
            self.fields = field_defs(payload["fields"])
            self._show_details()
        elif kind in NAME_EVENTS:
            pane = self._pane()
            if pane is not None:
                pane.forget()
                self.call_after_refresh(self._show_details)
        elif kind == "message.created" and self.open_facts is not None \
                and self._open_row is not None \
                and event.get("ticket_id") == self._open_row["ticket"]["id"]:
            self._new_message(payload.get("message") or {})

    def _new_message(self, message: dict[str, Any]) -> None:
        facts = dict(self.open_facts or {})
        if message.get("direction") == "inbound":
            facts["last_customer_at"] = message.get("created_at")
        elif message.get("author_agent_id") is not None and not facts.get("first_response_at"):
            facts["first_response_at"] = message.get("created_at")
        self.open_facts = facts
        self._show_details()

    # --- the fields form ----------------------------------------------------------

    def action_fields_form(self) -> None:
        """Edit every field of the open ticket at once."""
        if self._open_row is None:
            self.notify("Open a ticket first (enter).", timeout=3)
            return
        self._open_fields_form(self._open_row["ticket"]["id"])

    @work(exclusive=True, group="fields-form")
    async def _open_fields_form(self, ticket_id: int) -> None:
        try:
            fields = await self._fields_loaded()
        except CommandError as error:
            self.notify(str(error), title="Could not load the fields",
                        severity="error")
            return
        if self._open_row is None or self._open_row["ticket"]["id"] != ticket_id:
            return
        names = self.names
        groups = [(g["name"], g["id"]) for g in names.groups.values()]
        agents = [(a["name"], a["id"]) for a in names.agents.values() if not a.get("disabled")]

        async def save(changes: dict[str, Any]) -> Any:
            return await self.command("set_ticket", ticket_id=ticket_id, **changes)

        form = FieldsForm(self._open_row["ticket"], fields, groups, agents, save)
        self.app.push_screen(form, self._fields_saved)

    def _fields_saved(self, saved: bool | None) -> None:
        if saved:
            self.notify("Fields saved.", timeout=2)

    # --- the activity history -----------------------------------------------------

    def action_activity(self) -> None:
        """Who changed what on this ticket, newest first."""
        row = self._open_row
        current = self.tickets.current() if self.focused is not self.thread else None
        ticket = (current or row or {}).get("ticket")
        if ticket is None:
            self.notify("No ticket here.", severity="warning")
            return
        ticket_id = int(ticket["id"])

        async def fetch(before: int | None) -> dict[str, Any]:
            return await self.command("ticket_activity", ticket_id=ticket_id,
                                      before=before, limit=PAGE)

        self.app.push_screen(ActivityHistory(ticket_id, fetch))
