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
    from tui.model import ThreadState
    from tui.widgets.thread_view import ThreadView

logger = logging.getLogger(__name__)

#: Events whose names the pane shows: it is drawn again when one comes.
NAME_EVENTS = frozenset({"group.updated", "agent.updated"})
SURVEY = "csat_survey"  # a message's ``purpose`` when it is the desk's survey
#: Events that carry one of the open ticket's surveys as it now is (issue 14).
CSAT_EVENTS = frozenset({"csat.sent", "csat.rated", "csat.commented"})
#: Survey states a status change can close (the relay expires or finishes them on a reopen).
OPEN_SURVEY_STATES = frozenset({"sent", "rated", "asked_comment"})


def with_survey(csat: dict[str, Any], survey: dict[str, Any]) -> dict[str, Any]:
    """``ticket_csat``'s answer with one survey as an event now tells it (added, or replacing
    the one of its id), and the latest rating worked out as the relay does."""
    surveys = [s for s in csat.get("surveys") or () if s.get("id") != survey.get("id")]
    surveys = sorted([*surveys, survey], key=lambda s: s["id"])
    rated = [s for s in surveys if s.get("rating") is not None]
    return {**csat, "surveys": surveys, "rating": rated[-1]["rating"] if rated else None}


class FieldActions:
    """Mixed into ``InboxScreen``: relies on its ``command``, ``names``, ``notify``,
    ``query_one``, ``showing`` and ``app``."""

    if TYPE_CHECKING:  # what the inbox screen provides
        thread: ThreadView
        thread_state: ThreadState | None

    ready = False  # the inbox's own flag, set once it is mounted (read through ``showing``)
    _open_row: dict[str, Any] | None = None
    _open_time: dict[str, Any] | None = None
    fields: list[FieldDef] | None = None  # the admin's fields, once loaded
    open_facts: dict[str, Any] | None = None  # the open ticket's response times
    open_csat: dict[str, Any] | None = None  # the open ticket's surveys (``ticket_csat``)

    # --- the inbox's state, watched ----------------------------------------------

    @property
    def open_row(self) -> dict[str, Any] | None:
        return self._open_row

    @open_row.setter
    def open_row(self, row: dict[str, Any] | None) -> None:
        before = self._open_row
        self._open_row = row
        if row is None or before is None or before["ticket"]["id"] != row["ticket"]["id"]:
            self.open_facts = self.open_csat = None
            if row is not None and self._pane_open():
                self._load_facts(row["ticket"]["id"])
                self._load_csat(row["ticket"]["id"])
        elif before["ticket"].get("status") != row["ticket"].get("status") \
                and self._surveys_open():
            self._load_csat(row["ticket"]["id"])  # a reopen closed the survey: ask its state
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
        pane.show(self._open_row, self.names, self.fields or [], facts, self.open_csat)

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
        if self._open_row is not None and self.open_csat is None:
            self._load_csat(self._open_row["ticket"]["id"])
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

    @work(exclusive=True, group="csat")
    async def _load_csat(self, ticket_id: int) -> None:
        """The ticket's surveys for the pane's Satisfaction line."""
        try:
            csat = await self.command("ticket_csat", ticket_id=ticket_id)
        except CommandError as error:
            logger.info("could not load the surveys of #%s: %s", ticket_id, error)
            return
        if self._open_row is not None and self._open_row["ticket"]["id"] == ticket_id:
            self.open_csat = csat
            self._mark_ratings(ticket_id)
            self._show_details()

    def csat_follows(self, ticket_id: int, entries: list[dict[str, Any]]) -> None:
        """A thread just shown: mark its rating texts, asking the relay for its surveys if
        the desk surveyed it and they are not here yet (the pane may have asked already)."""
        if self.open_csat is not None:
            self._mark_ratings(ticket_id)
        elif any(e.get("purpose") == SURVEY for e in entries):
            self._load_csat(ticket_id)

    def _mark_ratings(self, ticket_id: int) -> None:
        """Each survey's rating text, marked in the thread: the customer's text written in
        the same instant the rating was kept (the relay records both in one write)."""
        state = self.thread_state
        if state is None or state.ticket_id != ticket_id:
            return
        for survey in (self.open_csat or {}).get("surveys") or ():
            if survey.get("rating") is None:
                continue
            for entry in state.entries:
                if entry.get("direction") == "inbound" and entry["id"] > survey["message_id"] \
                        and entry.get("created_at") == survey.get("rated_at"):
                    self.thread.mark_rating(entry["id"], survey["rating"])

    def _surveys_open(self) -> bool:
        return any(s.get("state") in OPEN_SURVEY_STATES
                   for s in (self.open_csat or {}).get("surveys") or ())

    def _new_survey(self, survey: dict[str, Any]) -> None:
        """A ``csat.*`` event for the open ticket: the survey as it now is, no round trip."""
        if self.open_csat is not None:
            self.open_csat = with_survey(self.open_csat, survey)
            self._show_details()
        elif self._open_row is not None and self._pane_open():
            # Still loading: the answer on its way may have been read before this change.
            self._load_csat(self._open_row["ticket"]["id"])

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
        elif kind in CSAT_EVENTS and self._open_row is not None \
                and event.get("ticket_id") == self._open_row["ticket"]["id"] \
                and isinstance(payload.get("survey"), dict):
            self._new_survey(payload["survey"])
            if kind == "csat.rated" and payload.get("message_id") is not None:
                self.thread.mark_rating(int(payload["message_id"]), int(payload["rating"]))

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
