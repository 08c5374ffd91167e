"""T and L: the agent's timer (it runs on the relay, so it survives the inbox quitting)
and the ticket's time log, with the total in the ticket's title line.
"""

from __future__ import annotations

import logging
from typing import Any

from textual import work

from core.durations import format_duration, parse_duration
from tui.client import CommandError
from tui.screens import time_log
from tui.screens.pickers import (
    ChoiceScreen,
    ConfirmScreen,
    TextPromptScreen,
)

logger = logging.getLogger(__name__)


class TimeActions:
    """The inbox's time keys and the header's timer; mixed into InboxScreen."""

    async def _load_my_timer(self) -> None:
        """The timer runs on the relay: an inbox started again shows it ticking again."""
        self._show_timer((await self.command("my_timer")).get("timer"))

    def _show_timer(self, timer: dict[str, Any] | None) -> None:
        self.my_timer = timer
        if self.showing:
            self.header.show_timer(timer and timer.get("ticket_id"),
                                   timer and timer.get("started_at"))

    def _time_changed(self, kind: str, ticket_id: int | None, payload: dict[str, Any]) -> None:
        """My timer in the header; the open ticket's total in its title line."""
        timer = payload.get("timer") or {}
        if kind in ("timer.started", "timer.stopped") and timer.get("agent_id") == \
                self._agent_id():
            running = kind == "timer.started"
            if running or (self.my_timer or {}).get("ticket_id") == timer.get("ticket_id"):
                self._show_timer(timer if running else None)
        if kind.startswith("time.") and self.thread_state is not None \
                and ticket_id == self.thread_state.ticket_id:
            self._load_time(ticket_id)

    @work(exclusive=True, group="time")
    async def _load_time(self, ticket_id: int) -> None:
        try:
            time = await self.command("ticket_time", ticket_id=ticket_id)
        except CommandError as error:
            logger.info("could not load the time of #%s: %s", ticket_id, error)
            return
        if self.showing and self.thread_state is not None \
                and self.thread_state.ticket_id == ticket_id:
            self.open_time = time
            self._show_title()

    def action_timer(self) -> None:
        """Start my timer on this ticket, or stop it if it runs here (one key, both ways)."""
        ticket_id = self._one_target()
        if ticket_id is not None:
            self._toggle_timer(ticket_id)

    @work(group="act")
    async def _toggle_timer(self, ticket_id: int) -> None:
        stopping = (self.my_timer or {}).get("ticket_id") == ticket_id
        try:
            if stopping:
                result = await self.command("stop_timer")
            else:
                result = await self.command("start_timer", ticket_id=ticket_id)
        except CommandError as error:
            self.notify(str(error), title="Could not use the timer", severity="error")
            return
        stopped = result.get("stopped")
        if not stopping:
            self._show_timer(result.get("timer"))
        elif stopped is not None:
            self._show_timer(None)
        said = [] if stopping else [f"Timer started on #{ticket_id}."]
        if stopped:
            logged = format_duration(stopped["time_entry"]["seconds"])
            said.insert(0, f"Stopped the timer on #{stopped['timer']['ticket_id']}: "
                           f"{logged} logged.")
        if said:
            self.notify(" ".join(said), timeout=4)

    def action_time_log(self) -> None:
        """The ticket's time entries, one key away, with "log time" first."""
        ticket_id = self._one_target()
        if ticket_id is not None:
            self._open_time_log(ticket_id)

    @work(group="act")
    async def _open_time_log(self, ticket_id: int) -> None:
        try:
            time = await self.command("ticket_time", ticket_id=ticket_id)
        except CommandError as error:
            self.notify(str(error), title="Could not load the time", severity="error")
            return
        self._pick(ChoiceScreen(time_log.log_title(ticket_id, time),
                                time_log.log_options(ticket_id, time, self.names,
                                                     self.client.agent or {})),
                   lambda chosen: self._time_entry_chosen(ticket_id, chosen))

    def _time_entry_chosen(self, ticket_id: int, chosen: Any) -> None:
        if chosen == time_log.NEW_ENTRY:
            self._pick(TextPromptScreen(f"Log time on #{ticket_id}", "1h30m, 45m or 1:30", "",
                                        validate=time_log.duration_problem),
                       lambda text: self._ask_note(ticket_id, parse_duration(text)))
        elif not time_log.may_change(chosen, self.client.agent or {}):
            who = self.names.agent(chosen.get("agent_id"))
            self.notify(f"This is {who}'s entry: only {who} (or an admin) may change it.",
                        title="View only", timeout=5)
        else:
            self._pick(ChoiceScreen(time_log.entry_label(chosen, self.names),
                                    time_log.entry_actions(chosen)),
                       lambda action: self._change_entry(chosen, action))

    def _ask_note(self, ticket_id: int, seconds: int) -> None:
        def billable(note: str) -> None:
            self._pick(ConfirmScreen(f"Is this {format_duration(seconds)} billable?",
                                     yes="Billable", no="Not billable"),
                       lambda yes: self._time_command(
                           "log time", "log_time", ticket_id=ticket_id, seconds=seconds,
                           note=note.strip(), billable=bool(yes)))
        self._pick(TextPromptScreen("What was it for? (optional)", "a short note", ""), billable)

    def _change_entry(self, entry: dict[str, Any], action: str) -> None:
        entry_id = entry["id"]
        if action == time_log.EDIT_DURATION:
            self._pick(TextPromptScreen("New duration", "1h30m, 45m or 1:30",
                                        format_duration(entry["seconds"]),
                                        validate=time_log.duration_problem),
                       lambda text: self._time_command("change the entry", "update_time_entry",
                                                       entry_id=entry_id,
                                                       seconds=parse_duration(text)))
        elif action == time_log.EDIT_NOTE:
            self._pick(TextPromptScreen("New note", "a short note", entry.get("note", "")),
                       lambda note: self._time_command("change the entry", "update_time_entry",
                                                       entry_id=entry_id, note=note.strip()))
        elif action == time_log.TOGGLE_BILLABLE:
            self._time_command("change the entry", "update_time_entry", entry_id=entry_id,
                               billable=not entry.get("billable"))
        elif action == time_log.DELETE_ENTRY:
            self._pick(ConfirmScreen("Delete this time entry?", yes="Delete"),
                       lambda yes: yes and self._time_command(
                           "delete the entry", "delete_time_entry", entry_id=entry_id))

    @work(group="act")
    async def _time_command(self, describe: str, name: str, **args: Any) -> None:
        try:
            await self.command(name, **args)
        except CommandError as error:
            self.notify(str(error), title=f"Could not {describe}", severity="error")
