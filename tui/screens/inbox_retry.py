"""R: a failed reply sent again, after the same last look a new reply gets.

A retry is a new text to the customer, billed again, and cannot be recalled: the send
review (tui/widgets/send_review.py) shows what goes, to whom and from which number (the
one the failed reply used: the relay retries from it too) before anything leaves. ``e``
puts the text back in the composer, as a new reply from that number, to change it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from core.models import Media
from tui.client import CommandError
from tui.widgets.send_review import ReviewChoice, SendReview
from tui.widgets.ticket_list import FAILED_STATUSES

if TYPE_CHECKING:
    from tui.screens.inbox import InboxScreen

# How far back the thread is read for a failed reply that is not in the open window.
MAX_WINDOWS_BACK = 20


class RetryActions:
    """The inbox's retry key; mixed into InboxScreen."""

    def _failed_reply(self: InboxScreen) -> int | None:
        """The id of the failed newest reply of the ticket an action would apply to."""
        row = self._retry_row()
        if row is None or row.get("last_reply_status") not in FAILED_STATUSES:
            return None
        return row.get("last_reply_id")

    def refresh_retry_binding(self: InboxScreen) -> None:
        """Show or hide the footer's "F Retry failed" as the row it applies to changes.

        Only when it flips: each refresh_bindings recomposes the whole footer
        (about as much CPU as redrawing the list), and rows change with every
        window loaded while scrolling.
        """
        if (self._failed_reply() is not None) != self._retry_shown:
            self.refresh_bindings()

    _retry_shown = False  # what the footer shows now: set at each refresh of the bindings

    def refresh_bindings(self: InboxScreen) -> None:
        """Every refresh (focus changes, the screen's own) records whether R is shown."""
        self._retry_shown = self._failed_reply() is not None
        super().refresh_bindings()  # type: ignore[misc]

    def on_ticket_list_highlighted(self: InboxScreen) -> None:
        self.refresh_retry_binding()  # the highlighted row is the one R applies to

    def _retry_row(self: InboxScreen) -> dict[str, Any] | None:
        row = self.tickets.current() if self.focused is not self.thread else None
        if row is None and self.open_row is not None:
            index = self.model.index_of(self.open_row["ticket"]["id"])
            row = self.model.row(index) if index is not None else None
        return row

    def action_retry_failed(self: InboxScreen) -> None:
        """Send the failed reply again, as a new message through the same checks."""
        message_id = self._failed_reply()
        row = self._retry_row()
        if message_id is None or row is None:
            self.notify("The newest reply here did not fail.", timeout=3)
            return
        self._review_retry(row, message_id)

    @work(group="act")
    async def _review_retry(self: InboxScreen, row: dict[str, Any], message_id: int) -> None:
        if not getattr(self.app, "send_review", True):  # the agent turned reviews off
            await self._retry(message_id)
            return
        failed = await self._failed_message(row["ticket"]["id"], message_id)
        if failed is None:
            self.notify("Could not find the failed reply in the thread.", severity="error")
            return
        number = self.names.numbers.get(failed.get("from_number_id")
                                        or row["ticket"]["number_id"]) or {}
        review = SendReview(
            str(failed.get("body") or ""),
            to=str(row.get("contact_phone") or ""),
            sender=str(number.get("e164") or "its number"),
            attachments=[Media(**item) for item in failed.get("media") or []],
            trial=str((number.get("account") or {}).get("type", "")).lower() == "trial",
        )
        choice: ReviewChoice | None = await self.app.push_screen_wait(review)
        if choice == "send":
            await self._retry(message_id)
        elif choice == "edit":
            self._edit_instead(row, failed)

    async def _failed_message(self: InboxScreen, ticket_id: int,
                              message_id: int) -> dict[str, Any] | None:
        """The failed reply: in the open thread if it is there, else read back to it."""
        state = self.thread_state
        if state is not None and state.ticket_id == ticket_id:
            found = next((e for e in state.entries if e.get("id") == message_id
                          and e.get("kind", "message") == "message"), None)
            if found is not None:
                return found
        before: str | None = None
        for _ in range(MAX_WINDOWS_BACK):
            args: dict[str, Any] = {"ticket_id": ticket_id, "limit": 100}
            if before is not None:
                args["before"] = before
            try:
                page = await self.command("get_thread", **args)
            except CommandError as error:
                self.notify(str(error), title="Could not read the thread", severity="error")
                return None
            found = next((e for e in page["items"] if e.get("id") == message_id
                          and "direction" in e), None)
            if found is not None or page.get("older") is None:
                return found
            before = page["older"]
        return None

    async def _retry(self: InboxScreen, message_id: int) -> None:
        try:
            await self.command("retry_reply", message_id=message_id)
        except CommandError as error:
            self.notify(str(error), title="Could not retry", severity="error")
            return
        self.notify("Sending the failed reply again.", timeout=3)

    def _edit_instead(self: InboxScreen, row: dict[str, Any], failed: dict[str, Any]) -> None:
        """The failed text as a new reply, from the same number, for the agent to change."""
        ticket_id = row["ticket"]["id"]
        sender = failed.get("from_number_id")
        if sender and sender != row["ticket"]["number_id"]:
            self.chosen_senders[ticket_id] = sender
        if not self.composer.offer_draft(ticket_id, "reply", str(failed.get("body") or "")):
            self.notify("The composer already holds a draft for this ticket.", severity="warning")
        if failed.get("media"):
            self.notify("Attach the files again (ctrl+t): a new reply carries its own.",
                        timeout=6)
        if self.open_row is not None and self.open_row["ticket"]["id"] == ticket_id:
            self._refresh_compose_context()
            self._start_composer("reply")
        else:
            self.open_ticket(row, then="reply")
