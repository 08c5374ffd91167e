"""#/Del, and X in the Trash: tickets moved to the Trash and back, asked first.

Bulk: every selected ticket goes in one command, so a crash never leaves half of a
selection deleted; the relay checks the admin-only emptying itself.
"""

from __future__ import annotations

from textual import work

from tui.client import CommandError
from tui.screens.pickers import (
    ConfirmScreen,
)


class TrashActions:
    """The inbox's Trash keys: delete, restore, empty; mixed into InboxScreen."""

    def action_delete(self) -> None:
        self._confirm_on_targets("delete", "Move {} to the Trash?", "delete_tickets")

    def action_restore(self) -> None:
        self._confirm_on_targets("restore", "Restore {} from the Trash, as it was?",
                                 "restore_tickets")

    def _confirm_on_targets(self, verb: str, question: str, name: str) -> None:
        """Ask once for the whole set (selected with space, else the current ticket)."""
        targets = self._targets()
        if not targets:
            self.notify("No ticket here.", severity="warning")
            return
        which = f"ticket #{targets[0]}" if len(targets) == 1 else f"{len(targets)} tickets"
        self._pick(ConfirmScreen(question.format(which), yes=verb.capitalize()),
                   lambda yes: yes and self._in_one_command(targets, verb, name))

    @work(group="act")
    async def _in_one_command(self, targets: list[int], verb: str, name: str) -> None:
        """One command for the set: all of it moves or none, and a resend is not redone."""
        try:
            result = await self.command(name, ticket_ids=targets)
        except CommandError as error:
            self.notify(str(error), title=f"Could not {verb}", severity="error")
            return
        moved = next(iter(result.values()), []) if isinstance(result, dict) else []
        if self.showing:
            self.tickets.selected.clear()
            self.tickets.refresh_rows()
            done = "Moved to the Trash" if verb == "delete" else "Restored"
            self.notify(f"{done}: {', '.join(f'#{i}' for i in moved) or 'nothing to do'}.",
                        timeout=3)

    def action_empty_trash(self) -> None:
        self._pick(ConfirmScreen("Empty the Trash? Its tickets, messages and notes are deleted "
                                 "for good.", yes="Empty"),
                   lambda yes: yes and self._empty_trash())

    @work(group="act")
    async def _empty_trash(self) -> None:
        try:
            result = await self.command("empty_trash")
        except CommandError as error:
            self.notify(str(error), title="Could not empty the Trash", severity="error")
            return
        purged = len(result.get("purged", [])) if isinstance(result, dict) else 0
        self.notify(f"Deleted {purged} tickets for good.", timeout=3)
