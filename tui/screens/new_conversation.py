"""Starting a new outbound conversation (``c``): to whom, from which number, what.

The number is typed in any format and read in the sending number's country (the E.164
understood and its country are shown as the agent types), or found among the customers
the inbox knows by typing part of a name. The sender is suggested by tui.senders and can
be changed with ctrl+f (the From picker); the draft is judged live by core.preflight, as
the relay will judge it again. Files go with it as in the composer (ctrl+t, ctrl+r), refused
with the reason while the sender is an SMS-only number. Returns ``{"to", "from_number_id",
"body", "attachments"}`` (the files still local: the inbox uploads them) or None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static, TextArea

from core.models import PhoneNumber
from core.phones import NotAPhoneNumber, Understood, country_of_number, understood
from core.sms import analyze
from tui.screens.from_picker import FromPicker
from tui.screens.pickers import matches
from tui.senders import SenderVerdict, contact_for, judge_senders
from tui.widgets.composer import AttachFile, ComposeContext, PendingFile, sender_from_wire
from tui.widgets.send_review import human_size


@dataclass(frozen=True, slots=True)
class KnownCustomer:
    """A customer the inbox has loaded, to start a conversation with by name."""

    name: str
    phone: str
    opted_out: bool = False
    # The desk's numbers they are opted out from (a STOP blocks the number it was sent to);
    # None: not known, ``opted_out`` then holds for every number.
    opted_out_number_ids: frozenset[int] | None = None


class NewConversationScreen(ModalScreen[dict[str, Any] | None]):
    """To, From, the message: sent on ctrl+s once nothing stands in the way."""

    CSS_PATH = "new_conversation.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", id="new_conversation.send", priority=True),
        Binding("ctrl+f", "choose_sender", "Choose From", id="new_conversation.choose_sender",
                priority=True),
        Binding("ctrl+t", "attach", "Attach", id="new_conversation.attach", priority=True),
        Binding("ctrl+r", "remove_attachment", "Remove attachment",
                id="new_conversation.remove_attachment", priority=True),
        Binding("escape", "cancel", "Cancel", id="new_conversation.cancel"),
    ]

    def __init__(self, numbers: Iterable[Mapping[str, Any]],
                 customers: Sequence[KnownCustomer] = ()) -> None:
        super().__init__()
        self._numbers = [n for n in numbers if n.get("account")]
        self._customers = list(customers)
        self._chosen_id: int | None = None  # the agent's own choice; None: the suggestion
        self._to: str | None = None  # the E.164 understood, once it is one
        self._verdicts: list[SenderVerdict] = []
        self._who = "the customer"
        self._attachments: tuple[PendingFile, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical(classes="new-conversation-dialog"):
            yield Label("New conversation", classes="new-conversation-title")
            yield Input(placeholder="the customer's number (any format) or name", id="nc-to")
            yield Static(id="nc-understood")
            yield Static(id="nc-from")
            yield TextArea(soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                           id="nc-body")
            yield Static(id="nc-attachments")
            yield Static(id="nc-verdict")
            yield Static("ctrl+s send · ctrl+f choose From · ctrl+t attach · ctrl+r unattach"
                         " · esc cancel", classes="nc-hint")

    def on_mount(self) -> None:
        self._judge()
        self.query_one("#nc-to", Input).focus()

    # -- what the agent sees ------------------------------------------------------------------

    @property
    def to(self) -> str | None:
        """The customer's number as understood (E.164), or None while it is not one."""
        return self._to

    @property
    def sender(self) -> SenderVerdict | None:
        """The number the message would go out from now, with its verdict."""
        if not self._verdicts:
            return None
        for verdict in self._verdicts:
            if verdict.number_id == self._chosen_id:
                return verdict
        return next((v for v in self._verdicts if v.suggested), self._verdicts[0])

    @property
    def attachments(self) -> tuple[PendingFile, ...]:
        return self._attachments

    def _show_attachments(self) -> None:
        lines = [f"+ {item.filename} ({item.content_type}, {human_size(item.size)})"
                 for item in self._attachments]
        self.query_one("#nc-attachments", Static).update(Content("\n".join(lines)))

    def verdict_text(self) -> str:
        return str(self.query_one("#nc-verdict", Static).render())

    @on(Input.Changed, "#nc-to")
    @on(TextArea.Changed, "#nc-body")
    def _changed(self) -> None:
        self._judge()

    @on(Input.Submitted, "#nc-to")
    def _to_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#nc-body", TextArea).focus()

    def _judge(self) -> None:
        """Read the number, judge every sender for it and the draft, redraw."""
        typed = self.query_one("#nc-to", Input).value
        body = self.query_one("#nc-body", TextArea).text
        self._to, said = None, ""
        customer = self._customer_named(typed)
        try:
            found = self._understood(customer.phone if customer else typed)
            customer = customer or self._customer_at(found.e164)
            name = customer.name if customer else ""
            said = "→ " + " · ".join([*([name] if name else []), found.e164, found.country])
            self._to = found.e164
            self._who = f"{name} ({found.e164})" if name else found.e164
        except NotAPhoneNumber as error:
            said = str(error) if typed.strip() else "Type a number in any format, or a name."
        self.query_one("#nc-understood", Static).update(Content(said))
        self._verdicts = []
        if self._to is not None and self._numbers:
            base = self._context_for(self._numbers[0], self._to, customer)
            self._verdicts = judge_senders(base, self._numbers, body,
                                           [item.attachment for item in self._attachments])
        self._show_sender(body)
        self._show_attachments()

    def _show_sender(self, body: str) -> None:
        sender = self.sender
        line = self.query_one("#nc-from", Static)
        verdict = self.query_one("#nc-verdict", Static)
        cost = analyze(body)
        count = f"{cost.encoding} · {cost.characters} characters · {cost.segments} segment" + (
            "" if cost.segments == 1 else "s")
        if not self._numbers:
            line.update(Content("From: no number is connected; an admin connects one."))
            verdict.update(Content(count))
            return
        if sender is None:
            first = self._numbers[0]
            line.update(Content(f"From: {first['e164']} (judged once the number is known)"))
            verdict.update(Content(count))
            return
        chosen = "" if self._chosen_id == sender.number_id else " (suggested)"
        line.update(Content(f"From: {sender.context.number.e164}{chosen}"))
        reasons = [f"✗ {r.reason}" for r in sender.refusals]
        reasons += [f"⚠ {w.reason}" for w in sender.warnings]
        verdict.update(Content("\n".join([count, *reasons])))

    def _understood(self, typed: str) -> Understood:
        """The number read in the sender's country; failing that, in the country of each of
        the desk's numbers (a UK desk's agent types 07911 123456 before any sender is
        judged); the first reading's refusal words if none fits."""
        regions = [self._region_of(self.sender.context.number)] if self.sender else []
        for number in self._numbers:
            phone, _ = sender_from_wire(number, number["account"])
            regions.append(self._region_of(phone))
        first: NotAPhoneNumber | None = None
        for region in dict.fromkeys(regions or ["US"]):
            try:
                return understood(typed, region)
            except NotAPhoneNumber as error:
                first = first or error
        assert first is not None
        raise first

    @staticmethod
    def _region_of(number: PhoneNumber) -> str:
        return country_of_number(number) or "US"

    def _customer_named(self, typed: str) -> KnownCustomer | None:
        """A known customer whose name matches what was typed (letters only: a name)."""
        if not any(ch.isalpha() for ch in typed):
            return None
        return next((c for c in self._customers if c.name and matches(typed, c.name)), None)

    def _customer_at(self, e164: str) -> KnownCustomer | None:
        """A known customer with this number: their name, and whether they opted out."""
        return next((c for c in self._customers if c.phone == e164), None)

    @staticmethod
    def _context_for(number: Mapping[str, Any], to: str,
                     customer: KnownCustomer | None) -> ComposeContext:
        phone, account = sender_from_wire(number, number["account"])
        contact = contact_for(to, customer.name if customer else "",
                              customer.opted_out if customer else False)
        return ComposeContext(ticket_id=0, number=phone, account=account, contact=contact,
                              opted_out_number_ids=customer.opted_out_number_ids
                              if customer else None)

    # -- keys ---------------------------------------------------------------------------------

    def action_choose_sender(self) -> None:
        if not self._verdicts:
            self.notify("Type the customer's number first: each number is judged for them.",
                        severity="warning")
            return
        sender = self.sender
        picker = FromPicker(self._verdicts, current_id=sender.number_id if sender else -1,
                            default_id=0, who=self._who)
        self.app.push_screen(picker, self._sender_chosen)

    def _sender_chosen(self, number_id: int | None) -> None:
        if number_id is not None:
            self._chosen_id = number_id
            self._judge()
        self.query_one("#nc-body", TextArea).focus()

    def action_attach(self) -> None:
        sender = self.sender
        if sender is not None and not sender.context.number.mms:
            e164 = sender.context.number.e164
            self._refuse(f"Attachments are disabled: {e164} is SMS-only, and SMS-only numbers "
                         "send text only. Choose an MMS-enabled number (ctrl+f) to send files.")
            return
        self.app.push_screen(AttachFile(self._attachments), self._attached)

    def _attached(self, pending: PendingFile | None) -> None:
        if pending is not None:
            self._attachments = (*self._attachments, pending)
            self._judge()
        self.query_one("#nc-body", TextArea).focus()

    def action_remove_attachment(self) -> None:
        if not self._attachments:
            self._refuse("There is no attachment to remove.")
            return
        self._attachments = self._attachments[:-1]
        self._judge()

    def action_send(self) -> None:
        body = self.query_one("#nc-body", TextArea).text
        sender = self.sender
        if self._to is None or sender is None:
            self._refuse("Type the customer's number first.")
            return
        if not body.strip() and not self._attachments:
            self._refuse("Write the message first.")
            return
        if sender.refusals:
            self._refuse("Not sent: " + " ".join(r.reason for r in sender.refusals))
            return
        self.dismiss({"to": self._to, "from_number_id": sender.number_id, "body": body,
                      "attachments": self._attachments})

    def _refuse(self, why: str) -> None:
        self.app.bell()
        self.notify(why, severity="error", timeout=6)

    def action_cancel(self) -> None:
        self.dismiss(None)
