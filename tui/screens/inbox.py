"""The inbox: ticket list on top, the open ticket's thread below, the composer under it.

Why this screen owns the glue and nothing else: the widgets draw, the model
(``tui.model``) decides what is loaded, the client talks to the relay. Here
each relay event is routed to whatever shows it, and each key becomes a relay
command. Commands go through the client, which queues them while the relay is
away and sends each exactly once, so an action taken offline is not lost.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from tui.client import CommandError, ConnectionState, RelayClient
from tui.drafts import KeptDraft, keep_drafts, take_drafts
from tui.mail_channel import shown_phone
from tui.model import (
    TRASH,
    Directory,
    ThreadState,
    TicketListModel,
    View,
    is_about,
    standard_views,
    with_contact,
    with_view_text,
)
from tui.screens.inbox_canned import CannedActions
from tui.screens.inbox_contacts import ContactActions
from tui.screens.inbox_conversations import ConversationActions
from tui.screens.inbox_email import EmailActions
from tui.screens.inbox_fields import FieldActions
from tui.screens.inbox_reports import ReportActions
from tui.screens.inbox_retry import RetryActions
from tui.screens.inbox_scenarios import ScenarioActions
from tui.screens.inbox_time import TimeActions
from tui.screens.inbox_toasts import SlaToasts, ToastPlacement
from tui.screens.inbox_trash import TrashActions
from tui.screens.pickers import (
    AssignScreen,
    ChoiceScreen,
    TagsScreen,
    TextPromptScreen,
)
from tui.screens.quit import UnsentWork
from tui.widgets.composer import ComposeContext, Composer, Draft
from tui.widgets.details_pane import DetailsPane
from tui.widgets.header import InboxHeader
from tui.widgets.thread_view import MediaCache, ThreadView
from tui.widgets.ticket_list import TicketList
from tui.widgets.ticket_title import TicketTitle

logger = logging.getLogger(__name__)

THREAD_WINDOW = 100
STATUSES = [("Open", "open"), ("Pending", "pending"), ("Resolved", "resolved"),
            ("Closed", "closed")]
PRIORITIES = [("Low", "low"), ("Medium", "medium"), ("High", "high"), ("Urgent", "urgent")]


class InboxScreen(EmailActions, ContactActions, FieldActions, CannedActions, ScenarioActions,
                  RetryActions, TrashActions, TimeActions, ConversationActions, ToastPlacement,
                  SlaToasts, ReportActions, Screen[None]):
    """Where agents spend the day."""

    CSS_PATH = "inbox.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        # First, so the footer shows the way between list and thread even when it is full.
        Binding("h", "focus_list", "List", id="inbox.focus_list"),
        Binding("l", "focus_thread", "Thread", id="inbox.focus_thread"),
        Binding("slash", "search", "Search", id="inbox.search"),
        Binding("escape", "clear_search", "Clear search", id="inbox.clear_search"),
        Binding("tab", "next_unread", "Next unread", id="inbox.next_unread"),
        Binding("r", "reply", "Reply", id="inbox.reply"),
        Binding("n", "note", "Note", id="inbox.note"),
        Binding("s", "status", "Status", id="inbox.status"),
        Binding("p", "priority", "Priority", show=False, id="inbox.priority"),
        Binding("a", "assign", "Assign", id="inbox.assign"),
        Binding("t", "tags", "Tags", show=False, id="inbox.tags"),
        Binding("u", "mark_unread", "Unread", show=False, id="inbox.mark_unread"),
        Binding("F", "retry_failed", "Retry failed", id="inbox.retry_failed"),
        Binding("R", "reports", "Reports", show=False, id="inbox.reports"),
        Binding("v", "views", "Views", id="inbox.views"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="inbox.reload"),
        Binding("A", "admin", "Admin", id="inbox.admin"),
        # New outbound conversations (issue 10).
        Binding("c", "new_conversation", "New conversation", show=False,
                id="inbox.new_conversation"),
        # The Trash: # or Del deletes (in the Trash: restores), with confirmation; admins empty it.
        Binding("number_sign,delete", "delete", "Delete", show=False, id="inbox.delete"),
        Binding("number_sign,delete", "restore", "Restore", id="inbox.restore"),
        Binding("X", "empty_trash", "Empty trash", id="inbox.empty_trash"),
        # Time: the agent's one timer (on the relay) starts and stops; L logs and lists entries.
        Binding("T", "timer", "Timer", show=False, id="inbox.timer"),
        Binding("L", "time_log", "Log time", show=False, id="inbox.time_log"),
        # Ticket fields (tui/screens/inbox_fields.py): the details pane, the form, the history.
        Binding("i", "details", "Details", show=False, id="inbox.details"),
        Binding("e", "fields_form", "Edit fields", show=False, id="inbox.fields_form"),
        Binding("Y", "activity", "Activity", show=False, id="inbox.activity"),
        # Scenarios (issue 10): a picker, run on the selected tickets or the current one.
        Binding("S", "scenario", "Run scenario", show=False, id="inbox.scenario"),
        # Contacts: the person behind the ticket (tui/screens/contact.py).
        Binding("C", "contact_view", "Contact", show=False, id="inbox.contact_view"),
        Binding("E", "edit_contact", "Edit contact", show=False, id="inbox.edit_contact"),
        Binding("H", "earlier", "Earlier conversations", show=False, id="inbox.earlier"),
    ]

    def __init__(self, client: RelayClient, drafts_file: Path | None = None) -> None:
        """``drafts_file`` keeps what the agent chose to keep when quitting (None: nowhere)."""
        super().__init__()
        self.client = client
        self.drafts_file = drafts_file
        self._before_search: View | None = None  # what Esc goes back to
        self._sending: dict[int, KeptDraft] = {}  # replies and notes the relay has not answered
        # Kept drafts put back unchanged go out under the id they left with (never twice).
        self._resend_ids: dict[tuple[int, str, str], str] = {}
        self._sends = 0
        self.names = Directory()
        self.model = TicketListModel(self.command, self._rows_changed)
        self.media = MediaCache()
        self.thread_state: ThreadState | None = None
        self.open_row: dict[str, Any] | None = None
        self.live_once = False
        self.ready = False  # composed and mounted: the client may be quicker than the screen
        self._pending_state: tuple[ConnectionState, str] | None = None
        self._media_wanted: set[str] = set()
        self.others: dict[int, dict[str, Any]] = {}  # agent id -> their presence frame
        # The sender the agent chose per ticket (ctrl+f); absent: the ticket's own number.
        self.chosen_senders: dict[int, int] = {}
        self.my_timer: dict[str, Any] | None = None  # this agent's running timer, on the relay
        self.open_time: dict[str, Any] | None = None  # the open ticket's entries and total
        self.contact_emails: dict[int, str] = {}  # issue 12: contact id -> address, once asked

    # --- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield InboxHeader(id="header")
        yield TicketList(self.model, self.names, id="tickets")
        with Horizontal(id="ticket-pane"):
            with Vertical(id="ticket-main"):
                yield TicketTitle(id="ticket-title")
                yield ThreadView(self.names, media=self.media, id="thread")
                yield Composer(send_review=getattr(self.app, "send_review", True),
                               id="composer")
            yield DetailsPane(id="details")  # i: the open ticket's fields, beside it
        yield Footer()

    @property
    def header(self) -> InboxHeader:
        return self.query_one(InboxHeader)

    @property
    def tickets(self) -> TicketList:
        return self.query_one(TicketList)

    @property
    def thread(self) -> ThreadView:
        return self.query_one(ThreadView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    def on_mount(self) -> None:
        self.tickets.focus()
        self.composer.set_context(None)
        self._show_title()
        self.ready = True
        if self._pending_state is not None:
            self.connection_changed(*self._pending_state)

    def on_unmount(self) -> None:
        self.ready = False

    @property
    def showing(self) -> bool:
        """Whether the widgets are there to show things: not before mount, nor while the app
        tears the screen down (children go first, so a late callback would find none)."""
        return self.ready and self.is_attached and self.app.is_running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the agent types, the inbox's keys are letters of the reply, not actions.

        The admin screen is for admins only: agents never see its key.
        """
        is_admin = (self.client.agent or {}).get("role") == "admin"
        if action == "admin" and not is_admin:
            return False
        in_trash = self.model.view.deleted
        if (action == "delete" and in_trash) or (action == "restore" and not in_trash):
            return False  # one key: deletes in every view, restores in the Trash
        if action == "empty_trash" and not (in_trash and is_admin):
            return False
        if action == "retry_failed" and self._failed_reply() is None:
            return False  # shown in the footer only where a reply failed
        if action == "clear_search" and not self.model.view.is_search:
            return False  # Esc means nothing here then: let it pass on
        # The way back to the list (after a send, focus is on the thread) and into the thread
        # show in the footer only where they lead somewhere.
        if action == "focus_list" and self.focused is self.tickets:
            return False
        if action == "focus_thread" and (self.focused is self.thread or self.open_row is None):
            return False
        focused = self.focused
        return not (focused is not None and self.composer in focused.ancestors_with_self)

    # --- the relay ----------------------------------------------------------------

    async def command(self, name: str, /, **args: Any) -> Any:
        return await self.client.command(name, **args)

    def connection_changed(self, state: ConnectionState, detail: str) -> None:
        """Called by the app for each state change of the client."""
        if not self.showing:
            self._pending_state = (state, detail)  # only the latest matters
            return
        self.header.state = state.value
        self.header.detail = detail
        if state is ConnectionState.LIVE:
            agent = self.client.agent or {}
            self.header.agent = str(agent.get("name", ""))
            if not self.live_once:
                self.live_once = True
                self._start()
            else:
                self.notify("Back in touch with the relay; nothing was missed.",
                            title="Reconnected", timeout=3)
            return
        self.others.clear()  # the relay tells the whole board again once we are back
        self._show_presence()
        if state is ConnectionState.OFFLINE and self.live_once:
            self.notify(f"Lost the relay: {detail}. Anything you do now is sent when it is back.",
                        title="Offline", severity="warning", timeout=6)
        elif state is ConnectionState.REFUSED:
            self.notify(detail or "the relay refused this token", title="Not signed in",
                        severity="error", timeout=30)

    @work(exclusive=True, group="start")
    async def _start(self) -> None:
        try:
            groups, agents, numbers = await asyncio.gather(
                self.command("list_groups"), self.command("list_agents"),
                self.command("list_numbers"))
        except CommandError as error:
            self.notify(str(error), title="Could not load the desk", severity="error")
            return
        if not self.showing:
            return  # quitting: the answers came as the screen went
        self.names.load(groups, agents, numbers)
        await self.switch_view(standard_views(self._agent_id())[0])
        await self._quietly(self._load_my_timer())
        await self._quietly(self._load_trash_retention())
        await self.load_email_channel()

    async def _load_trash_retention(self) -> None:
        """When the Trash's tickets will be purged (its list shows the date); then by event."""
        self.names.trash_retention_days = (await self.command("get_trash_retention"))["days"]
        self.tickets.refresh_rows()

    def _agent_id(self) -> int | None:
        agent = self.client.agent or {}
        return agent.get("id")

    def presence_changed(self, frame: dict[str, Any]) -> None:
        """Another agent opened, is answering or left a ticket (called by the app)."""
        agent = frame.get("agent") or {}
        if agent.get("id") is None:
            return
        if frame.get("ticket_id") is None:
            self.others.pop(agent["id"], None)
        else:
            self.others[agent["id"]] = frame
        self._show_presence()

    def _show_presence(self) -> None:
        if not self.showing:
            return
        ticket_id = self.open_row["ticket"]["id"] if self.open_row else None
        here = [f"{(f.get('agent') or {}).get('name', 'someone')} is {f.get('activity')}"
                for f in self.others.values() if f.get("ticket_id") == ticket_id]
        self.header.presence = " · ".join(sorted(here)) if ticket_id is not None else ""

    def _others_replying(self, ticket_id: int) -> list[str]:
        return sorted((f.get("agent") or {}).get("name", "someone") for f in self.others.values()
                      if f.get("ticket_id") == ticket_id and f.get("activity") == "replying")

    def relay_event(self, event: dict[str, Any]) -> None:
        """Called by the app for every event, in order, exactly once."""
        if not self.showing:
            return  # the first load, which follows, will show it
        kind = event.get("kind", "")
        payload = event.get("payload") or {}
        self.details_follow(event)
        self.email_event(kind, payload)
        if self.names.apply(event):
            self._setup_changed(kind, payload)
            return
        self.model.apply(event)
        self.sla_event(kind, payload)
        self._time_changed(kind, event.get("ticket_id"), payload)
        if kind == "tickets.purged":
            self._close_if_purged(payload.get("ticket_ids") or [])
        if kind == "canned.updated":
            self.canned_changed(payload)
        elif kind == "scenarios.updated":
            self.scenarios_changed()
        if kind in ("contact.updated", "contact.merged"):
            self._tell_contact_views(kind, payload)
        if kind == "ticket.created" and self.live_once and self._is_mine_to_see(payload) \
                and "started_by" not in payload:  # an agent's new conversation: no news
            contact = payload.get("contact") or {}
            who = (contact.get("name") or shown_phone(contact.get("phone"))
                   or contact.get("email") or "a customer")
            preview = (payload.get("message") or {}).get("body", "")[:60]
            self.notify(preview or "(attachment)", title=f"New ticket from {who}", timeout=5)
        self._update_open_ticket(kind, event.get("ticket_id"), payload)

    def _close_if_purged(self, ticket_ids: list[int]) -> None:
        """The open ticket is gone for good: nothing is left to show or answer."""
        state = self.thread_state
        if state is None or state.ticket_id not in ticket_ids:
            return
        self.thread_state, self.open_row, self.open_time = None, None, None
        self.thread.clear()
        self._refresh_compose_context()
        self.refresh_bindings()
        self.notify(f"Ticket #{state.ticket_id} was deleted for good (the Trash was emptied).",
                    severity="warning", timeout=6)
        if (self.my_timer or {}).get("ticket_id") == state.ticket_id:
            self._show_timer(None)  # the relay dropped its timer with it

    def _setup_changed(self, kind: str, payload: dict[str, Any]) -> None:
        """An account, number, group or agent changed: redraw names, re-judge the draft."""
        agent = payload.get("agent") or {}
        me = self.client.agent or {}
        if kind == "agent.updated" and agent.get("id") == me.get("id"):
            self.client.agent = {**me, **agent}  # role and groups decide what I may do
            self.header.agent = str(agent.get("name", ""))
            self.refresh_bindings()
        if self.names.missing_accounts():
            self._reload_numbers()
        self.tickets.refresh_rows()
        self._refresh_compose_context()

    @work(exclusive=True, group="numbers")
    async def _reload_numbers(self) -> None:
        """A number whose account the inbox never heard of: ask the relay for the rules."""
        try:
            numbers = await self.command("list_numbers")
        except CommandError as error:
            self.notify(str(error), title="Could not load the numbers", severity="warning")
            return
        self.names.load_numbers(numbers)
        if self.showing:
            self._refresh_compose_context()

    def _is_mine_to_see(self, payload: dict[str, Any]) -> bool:
        agent = self.client.agent or {}
        groups = set(agent.get("group_ids") or [])
        ticket = payload.get("ticket") or {}
        return agent.get("role") == "admin" or not groups or ticket.get("group_id") in groups \
            or ticket.get("group_id") is None

    def _update_open_ticket(self, kind: str, ticket_id: int | None,
                            payload: dict[str, Any]) -> None:
        if kind in ("contact.updated", "contact.merged") and self.open_row is not None \
                and is_about(self.open_row, payload):
            # A STOP (or START) changes what may be sent to the open ticket right now.
            self.open_row = with_contact(self.open_row, payload)
            self._refresh_compose_context()
        state = self.thread_state
        if state is None or ticket_id != state.ticket_id:
            return
        entry = payload.get("message") or payload.get("note")
        if entry is not None and kind in ("message.created", "message.updated",
                                          "note.created", "ticket.created"):
            if "error" in payload and isinstance(entry, dict):
                entry = {**entry, "error": payload["error"]}
            if state.upsert(entry):
                self.thread.upsert(entry)
        ticket = payload.get("ticket")
        if ticket is not None and self.open_row is not None:
            self.open_row = {**self.open_row, "ticket": ticket}
            self._refresh_compose_context()

    def _rows_changed(self) -> None:
        if not self.showing:
            return
        self.tickets.refresh_rows()
        self.refresh_retry_binding()  # "F Retry failed" follows the rows' replies
        view = self.model.view
        self.header.total, self.header.more = self.model.counted
        self.header.searching = view.is_search
        matched = self.model.matched() if view.is_search else []
        self.header.view = view.label + (f" (by {', '.join(matched)})" if matched else "")
        self.tickets.empty_text = (
            f"No ticket matches “{view.text}”." if view.is_search
            else f"No tickets in “{view.label}”." if self.model.loaded else "Loading…")
        if self.model.error:
            self.notify(self.model.error, title="Could not load tickets", severity="error")
            self.model.error = None

    async def switch_view(self, view: View) -> None:
        if view.is_search and not self.model.view.is_search:
            self._before_search = self.model.view
        self.tickets.reset()
        await self.model.switch(view)

    # --- opening a ticket ---------------------------------------------------------

    @on(TicketList.Opened)
    def _opened(self, message: TicketList.Opened) -> None:
        self.open_ticket(message.row)

    @work(exclusive=True, group="open")
    async def open_ticket(self, row: dict[str, Any], then: str | None = None) -> None:
        """Show a ticket's newest window; ``then`` ("reply"/"note") starts the composer after."""
        ticket = row["ticket"]
        self.open_row = row
        self.earlier_follows(ticket)
        self.refresh_bindings()  # "l Thread" now leads somewhere
        self.thread_state = ThreadState(ticket["id"])
        self.open_time = None
        self._load_time(ticket["id"])
        self.client.announce(ticket["id"], "viewing")
        self._show_presence()
        try:
            page = await self.command("get_thread", ticket_id=ticket["id"], limit=THREAD_WINDOW)
        except CommandError as error:
            self.notify(str(error), title="Could not open the ticket", severity="error")
            return
        if self.thread_state is None or self.thread_state.ticket_id != ticket["id"] \
                or not self.showing:
            return  # another ticket was opened meanwhile, or the inbox is closing
        self.thread_state.entries = list(page["items"])
        self.thread_state.older = page.get("older")
        self.thread.show(row, self.thread_state.entries, has_older=page.get("older") is not None)
        self.email_follows(row, self.thread_state.entries)
        self.csat_follows(ticket["id"], self.thread_state.entries)
        # The thread is what the agent opened it for: paint it first, then
        # restyle the composer (enabling it relayouts the whole screen).
        self.call_after_refresh(self._refresh_compose_context)
        self.call_after_refresh(self._restore_kept_drafts, ticket["id"])
        if then is not None:
            self.call_after_refresh(self._start_composer, then)
        if ticket.get("unread"):
            await self._quietly(self.command("mark_read", ticket_id=ticket["id"]))

    def _show_title(self) -> None:
        logged = (self.open_time or {}).get("total_seconds")
        self.query_one(TicketTitle).show(self.open_row if self.thread_state else None, self.names,
                                         logged)

    def _refresh_compose_context(self) -> None:
        self._show_title()  # whatever changes the draft's facts changes the title's
        row = self.open_row
        if row is None:
            self.composer.set_context(None)
            return
        number = self.names.numbers.get(row["ticket"].get("number_id"))
        if number is None or not number.get("account"):
            self.composer.set_context(None)
            if self.live_once:
                self._reload_numbers()  # connected after the last load: ask, then judge
            return
        context = ComposeContext.from_wire(row, number, number["account"])
        chosen = self.names.numbers.get(self.chosen_senders.get(context.ticket_id, -1))
        if chosen is not None and chosen.get("account"):
            context = context.sending_from(chosen)
        self.composer.set_context(self.with_email(context))

    @on(ThreadView.OlderWanted)
    def _older_wanted(self, message: ThreadView.OlderWanted) -> None:
        self.load_older(message.ticket_id, message.before)

    @work(group="older")
    async def load_older(self, ticket_id: int, before: str) -> None:
        state = self.thread_state
        if state is None or state.ticket_id != ticket_id or state.loading_older:
            return
        state.loading_older = True
        try:
            page = await self.command("get_thread", ticket_id=ticket_id, before=before,
                                      limit=THREAD_WINDOW)
        except CommandError as error:
            self.notify(str(error), title="Could not load older messages", severity="error")
            return
        finally:
            state.loading_older = False
        if self.thread_state is not state or not self.showing:
            return
        state.entries = list(page["items"]) + state.entries
        state.older = page.get("older")
        self.thread.prepend(list(page["items"]), has_older=state.older is not None)

    @on(ThreadView.MediaWanted)
    def _media_wanted_message(self, message: ThreadView.MediaWanted) -> None:
        if message.sha256 not in self._media_wanted:
            self._media_wanted.add(message.sha256)
            self.fetch_media(message.sha256)

    @work(group="media")
    async def fetch_media(self, sha256: str) -> None:
        try:
            found = await self.command("fetch_media", sha256=sha256)
        except CommandError as error:
            self.notify(str(error), title="Could not fetch an attachment", severity="warning")
            return
        finally:
            self._media_wanted.discard(sha256)
        data = await asyncio.to_thread(base64.b64decode, found["data"])
        self.media.put(sha256, data)
        if self.showing:
            self.thread.media_ready(sha256)

    # --- replying -----------------------------------------------------------------

    def action_reply(self) -> None:
        self._open_composer("reply")

    def action_note(self) -> None:
        self._open_composer("note")

    def _open_composer(self, mode: str) -> None:
        if self.open_row is None:
            current = self.tickets.current()
            if current is None:
                self.notify("Open a ticket first (Enter).", severity="warning")
                return
            self.open_ticket(current, then=mode)  # the composer needs the ticket's number
            return
        self._start_composer(mode)

    def _start_composer(self, mode: str) -> None:
        self.composer.start(mode)  # type: ignore[arg-type]
        if mode == "reply" and self.open_row is not None:
            ticket_id = self.open_row["ticket"]["id"]
            self.client.announce(ticket_id, "replying")
            busy = self._others_replying(ticket_id)
            if busy:
                self.notify(f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} replying to"
                            " this ticket right now.", title="Careful", severity="warning")

    @on(Composer.Submitted)
    def _submitted(self, message: Composer.Submitted) -> None:
        context = message.context
        by_number = context.from_another_number and message.draft.channel == "sms"
        self.send_draft(message.draft, context.ticket_id,
                        from_number_id=context.number.id if by_number else None)

    @on(Composer.Cancelled)
    def _cancelled(self) -> None:
        self._viewing_again()
        self.thread.focus()

    def _viewing_again(self) -> None:
        if self.open_row is not None:
            self.client.announce(self.open_row["ticket"]["id"], "viewing")

    @work(group="send")
    async def send_draft(self, draft: Draft, ticket_id: int, *,
                         from_number_id: int | None = None) -> None:
        self._sends += 1
        token = self._sends
        command_id = self._resend_ids.pop((ticket_id, draft.mode, draft.body), "") \
            or f"send-{uuid.uuid4().hex}"
        self._sending[token] = KeptDraft(ticket_id, draft.mode, draft.body, command_id,
                                         from_number_id if draft.mode == "reply" else None)
        try:
            await self._send(draft, ticket_id, command_id, from_number_id)
        finally:
            self._sending.pop(token, None)

    async def _send(self, draft: Draft, ticket_id: int, command_id: str,
                    from_number_id: int | None = None) -> None:
        try:
            if draft.mode == "note":
                await self.command("add_note", ticket_id=ticket_id, body=draft.body,
                                   command_id=command_id)
            else:
                email = draft.channel == "email"
                media = [await self._upload(item, purpose="email" if email else None)
                         for item in draft.attachments]
                args: dict[str, Any] = {"ticket_id": ticket_id, "body": draft.body}
                if email:  # issue 12: by email, with its subject; the relay judges it again
                    args.update(channel="email", subject=draft.subject)
                if media:
                    args["media"] = media
                if from_number_id is not None:
                    args["from_number_id"] = from_number_id  # the relay judges it again
                await self.command("reply", command_id=command_id, **args)
        except CommandError as error:
            if self.showing:
                self.composer.failed(str(error))
            return
        except OSError as error:
            if self.showing:
                self.composer.failed(f"Could not read the attachment: {error}")
            return
        if not self.showing:
            return
        self.composer.sent()
        self._viewing_again()
        self.thread.focus()

    # --- choosing the sender (issue 10: conversations) ------------------------------------

    # --- quitting -----------------------------------------------------------------------

    def unsent_work(self) -> UnsentWork:
        """What quitting now would lose: typed text, replies and notes on their way, actions."""
        composer = self.composer if self.showing else None
        typed = [KeptDraft(ticket_id, mode, text, "", self.chosen_senders.get(ticket_id)
                           if mode == "reply" else None)
                 for ticket_id, mode, text in (composer.unsent_drafts() if composer else [])]
        actions = [c for c in self.client.unsent() if c.name not in ("reply", "add_note")]
        return UnsentWork(typed=typed, sending=list(self._sending.values()), actions=actions)

    async def until_sent(self) -> None:
        """Until every reply, note and action given so far has the relay's answer."""
        while self._sending or self.client.unsent():
            await self.client.until_sent()
            if self._sending:
                await asyncio.sleep(0.05)  # an upload before its reply: not a command yet

    async def keep_as_drafts(self, work: UnsentWork) -> int:
        """Save the work's replies and notes to the drafts file; how many were kept."""
        kept = [d for d in work.sending + work.typed if d.body.strip()]
        if kept and self.drafts_file is not None:
            await asyncio.to_thread(keep_drafts, self.drafts_file, kept)
        return len(kept) if self.drafts_file is not None else 0

    async def _restore_kept_drafts(self, ticket_id: int) -> None:
        if self.drafts_file is None:
            return
        kept = await asyncio.to_thread(take_drafts, self.drafts_file, ticket_id)
        for draft in kept:
            if self.showing and self.composer.offer_draft(ticket_id, draft.mode,  # type: ignore[arg-type]
                                                          draft.body):
                if draft.command_id:
                    self._resend_ids[(ticket_id, draft.mode, draft.body)] = draft.command_id
                if draft.from_number_id is not None:  # from the number it was written for
                    self.chosen_senders[ticket_id] = draft.from_number_id
                    self._refresh_compose_context()
                self.notify(f"The {draft.mode} you kept when you quit is back in the composer."
                            + (" It may have reached the relay already: sent unchanged, it"
                               " still goes out only once." if draft.command_id else ""),
                            title="Draft restored", timeout=8)
            elif self.drafts_file is not None:
                await asyncio.to_thread(keep_drafts, self.drafts_file, [draft])

    async def _upload(self, item: Any, purpose: str | None = None) -> dict[str, Any]:
        """``purpose`` "email": an email's attachment, up to the desk's email limit."""
        if item.sha256:  # a canned response's attachment: the relay has it already
            return {"sha256": item.sha256, "content_type": item.content_type,
                    "filename": item.filename}
        data = await asyncio.to_thread(Path(item.path).read_bytes)
        encoded = await asyncio.to_thread(lambda: base64.b64encode(data).decode("ascii"))
        extra = {"purpose": purpose} if purpose else {}
        return await self.command("upload_media", content_type=item.content_type, data=encoded,
                                  filename=item.filename, **extra)

    # --- acting on tickets --------------------------------------------------------

    def _targets(self) -> list[int]:
        """The tickets an action applies to: those selected with space, else the current one."""
        if self.tickets.selected:
            return sorted(self.tickets.selected)
        current = self.tickets.current() if self.focused is not self.thread else None
        if current is None and self.open_row is not None:
            return [self.open_row["ticket"]["id"]]
        return [current["ticket"]["id"]] if current else []

    def _current_ticket(self) -> dict[str, Any] | None:
        row = self.tickets.current()
        return row["ticket"] if row else None

    def _set_on_targets(self, describe: str, **changes: Any) -> None:
        targets = self._targets()
        if not targets:
            self.notify("No ticket here.", severity="warning")
            return
        self._apply_to(targets, describe, "set_ticket", **changes)

    @work(group="act")
    async def _apply_to(self, targets: list[int], describe: str, name: str,
                        **changes: Any) -> None:
        failures = []
        for ticket_id in targets:
            try:
                await self.command(name, ticket_id=ticket_id, **changes)
            except CommandError as error:  # the relay's words may name the ticket already
                said = str(error)
                failures.append(said if f"#{ticket_id}" in said else f"#{ticket_id}: {said}")
        if failures:
            self.notify("\n".join(failures), title=f"Could not {describe}", severity="error")
        elif len(targets) > 1 and self.showing:
            self.notify(f"{describe.capitalize()}: {len(targets)} tickets.", timeout=3)
            self.tickets.selected.clear()
            self.tickets.refresh_rows()

    def _pick(self, screen: Any, then: Callable[[Any], None]) -> None:
        def done(value: Any) -> None:
            if value is not None:
                then(value)

        self.app.push_screen(screen, done)

    def action_status(self) -> None:
        ticket = self._current_ticket()
        self._pick(ChoiceScreen("Set status", STATUSES, ticket and ticket.get("status")),
                   lambda status: self._set_on_targets(f"set status {status}", status=status))

    def action_priority(self) -> None:
        ticket = self._current_ticket()
        self._pick(ChoiceScreen("Set priority", PRIORITIES, ticket and ticket.get("priority")),
                   lambda value: self._set_on_targets(f"set priority {value}", priority=value))

    def action_assign(self) -> None:
        ticket = self._current_ticket() or {}
        agents = [a for a in self.names.agents.values() if not a.get("disabled")]
        self._pick(AssignScreen(agents, list(self.names.groups.values()),
                                ticket.get("agent_id"), ticket.get("group_id")),
                   lambda change: self._set_on_targets("assign", **change))

    def action_tags(self) -> None:
        ticket = self._current_ticket() or {}
        known = sorted({tag for run in (self.model.head, self.model.tail) for row in run
                        for tag in row["ticket"].get("tags") or []})
        self._pick(TagsScreen(list(ticket.get("tags") or []), known),
                   lambda tags: self._set_on_targets("tag", tags=tags))

    def action_mark_unread(self) -> None:
        targets = self._targets()
        if targets:
            self._apply_to(targets, "mark unread", "mark_unread")

    def action_views(self) -> None:
        views = standard_views(self._agent_id())
        views += [View(f"Group {g['name']}, open & pending", status=("open", "pending"),
                       group_id=g["id"]) for g in self.names.groups.values()]
        views += [View(f"{label} only", status=(value,)) for label, value in STATUSES]
        views.append(TRASH)
        options = [(view.label, view) for view in views]
        self._pick(ChoiceScreen("Show", options, None), self._view_chosen)

    def _view_chosen(self, view: View) -> None:
        self.run_worker(self.switch_view(view), group="view", exclusive=True)

    # --- the Trash ----------------------------------------------------------------

    # --- time -----------------------------------------------------------------------

    def _one_target(self) -> int | None:
        """The ticket under the cursor (or the open one, from the thread): time is per ticket."""
        row = self.tickets.current() if self.focused is not self.thread else None
        ticket = (row or self.open_row or {}).get("ticket")
        if ticket is None:
            self.notify("No ticket here.", severity="warning")
            return None
        return int(ticket["id"])

    def action_search(self) -> None:
        """A new search starts empty: the last one is in the header, and Esc clears it."""
        self._pick(TextPromptScreen("Search tickets",
                                    "name, phone, email, tag, #number or words (* a prefix)", ""),
                   self._search_chosen)

    def _search_chosen(self, text: str) -> None:
        if not text.strip():
            self.action_clear_search()
            return
        base = self._unsearched_view()
        self.run_worker(self.switch_view(with_view_text(base, text)), group="view",
                        exclusive=True)

    def _unsearched_view(self) -> View:
        """The view a search narrowed (what Esc goes back to)."""
        view = self.model.view
        if not view.is_search:
            return view
        return self._before_search or standard_views(self._agent_id())[0]

    def action_clear_search(self) -> None:
        if self.model.view.is_search:
            self.run_worker(self.switch_view(self._unsearched_view()), group="view",
                            exclusive=True)

    def action_next_unread(self) -> None:
        """Open the next unread ticket below the cursor (wrapping), as mail readers do."""
        start = self.tickets.cursor
        total = self.model.total
        for step in range(1, total + 1):
            index = (start + step) % total
            row = self.model.row(index)
            if row is not None and row["ticket"].get("unread"):
                self.tickets.cursor = index
                self.open_ticket(row)
                return
        self.notify("No unread ticket among those loaded.", timeout=3)

    def action_focus_thread(self) -> None:
        self.thread.focus()

    def action_focus_list(self) -> None:
        self.tickets.focus()

    def action_reload(self) -> None:
        self.run_worker(self.model.reload(), group="view", exclusive=True)

    def action_admin(self) -> None:
        # Imported here: most sessions never open it, and the inbox should paint first.
        from tui.screens.admin.admin import AdminScreen

        self.app.push_screen(AdminScreen(self.client))

    async def _quietly(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except CommandError as error:
            logger.info("background command failed: %s", error)
