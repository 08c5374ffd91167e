"""c, and Ctrl+F in the composer: a new outbound conversation, and the number a reply
goes from (the From picker judges each of the account's numbers for this customer).
"""

from __future__ import annotations

import uuid
from typing import Any

from textual import work

from tui.client import CommandError
from tui.screens.from_picker import FromPicker
from tui.screens.new_conversation import KnownCustomer, NewConversationScreen
from tui.senders import judge_senders
from tui.widgets.composer import ComposeContext, Composer


class ConversationActions:
    """New conversations and the From picker; mixed into InboxScreen."""

    # Named, not @on: Textual collects @on handlers only from MessagePump classes, and a
    # mixin is not one; handlers found by name are looked up along the whole MRO.
    def on_composer_sender_wanted(self, message: Composer.SenderWanted) -> None:
        """The From picker for this draft: every number judged for this customer."""
        context, draft = message.context, message.draft
        verdicts = judge_senders(context, self.names.numbers.values(), draft.body,
                                 [item.attachment for item in draft.attachments])
        who = context.contact.name or context.contact.phone
        picker = FromPicker(verdicts, current_id=context.number.id,
                            default_id=context.ticket_number_id, who=who)
        self.app.push_screen(picker, lambda chosen: self._sender_chosen(context, chosen))

    def _sender_chosen(self, context: ComposeContext, number_id: int | None) -> None:
        if number_id is not None:
            if number_id == context.ticket_number_id:
                self.chosen_senders.pop(context.ticket_id, None)
            else:
                self.chosen_senders[context.ticket_id] = number_id
            self._refresh_compose_context()
        if self.showing:
            self.composer.start("reply")

    def action_new_conversation(self) -> None:
        customers = [KnownCustomer(str(row.get("contact_name") or ""),
                                   str(row.get("contact_phone") or ""),
                                   bool(row.get("contact_opted_out")),
                                   None if row.get("contact_opted_out_number_ids") is None
                                   else frozenset(row["contact_opted_out_number_ids"]))
                     for row in (*self.model.head, *self.model.tail) if row.get("contact_phone")]
        screen = NewConversationScreen(self.names.numbers.values(), customers)
        self.app.push_screen(screen, self._conversation_wanted)

    def _conversation_wanted(self, wanted: dict[str, Any] | None) -> None:
        if wanted is not None:
            self.start_conversation(wanted)

    @work(group="send")
    async def start_conversation(self, wanted: dict[str, Any]) -> None:
        """One command, one id: resent after a reconnect, the relay makes one ticket.
        Its files are uploaded first, as a reply's are, and named by their sha256."""
        args = {key: value for key, value in wanted.items() if key != "attachments"}
        try:
            media = [await self._upload(item) for item in wanted.get("attachments") or ()]
            if media:
                args["media"] = media
            started = await self.command("start_conversation",
                                         command_id=f"start-{uuid.uuid4().hex}", **args)
        except CommandError as error:
            self.notify(str(error), title="Not started", severity="error", timeout=8)
            return
        except OSError as error:
            self.notify(f"Could not read the attachment: {error}", title="Not started",
                        severity="error", timeout=8)
            return
        ticket = started["ticket"]
        self.notify(f"Ticket #{ticket['id']} started with {wanted['to']}.", timeout=5)
