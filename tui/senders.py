"""Which of the desk's numbers can carry this draft to this customer, and which is best.

Pure (no Textual, no network): the From picker shows these verdicts and the new-conversation
screen suggests its sender with them. Each verdict is core.preflight's, judged for the
customer and the draft as it is now (attachments included), so the picker says the same
as the relay will.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.models import Contact, SenderType
from core.phones import NotAPhoneNumber, country_of_number, understood
from core.preflight import MediaLike, Refusal, preflight
from tui.widgets.composer import ComposeContext

_KIND_WORDS = {SenderType.TOLL_FREE: "toll-free", SenderType.LONG_CODE: "long code",
               SenderType.SHORT_CODE: "short code", SenderType.ALPHANUMERIC: "sender ID"}


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    """One number judged as the sender of this draft."""

    context: ComposeContext  # the draft's context sent from this number
    refusals: tuple[Refusal, ...]
    warnings: tuple[Refusal, ...]
    suggested: bool = False

    @property
    def can_send(self) -> bool:
        return not self.refusals

    @property
    def number_id(self) -> int:
        return self.context.number.id

    def label(self, *, default_id: int) -> str:
        """Two or more lines: the number, what it is, then whether it reaches the customer."""
        number = self.context.number
        kind = _KIND_WORDS.get(number.sender_type, str(number.sender_type))
        name = f" {number.friendly_name}" if number.friendly_name not in ("", number.e164) else ""
        facts = [kind, "MMS" if number.mms else "SMS only"]
        if number.id == default_id:
            facts.append("the customer texted this one")
        head = f"{number.e164}{name} · {' · '.join(facts)}"
        if self.suggested:
            head += "  ★ suggested"
        if self.can_send:
            lines = ["    ✓ can reach this customer"]
            lines += [f"    ⚠ {warning.reason}" for warning in self.warnings]
        else:
            lines = [f"    ✗ {refusal.reason}" for refusal in self.refusals]
        return "\n".join([head, *lines])


def judge_senders(context: ComposeContext, numbers: Iterable[Mapping[str, Any]], body: str,
                  attachments: Sequence[MediaLike] = ()) -> list[SenderVerdict]:
    """Every enabled number with its account's rules, judged as the sender of this draft;
    the best one marked ``suggested``. Numbers listed without their account are left out
    (their rules are unknown here; the relay would judge them anyway)."""
    verdicts = []
    for number in numbers:
        if not number.get("account"):
            continue
        try:
            sending = context.sending_from(number)
        except (ValueError, KeyError, TypeError):
            continue
        verdicts.append(_judged(sending, body, attachments))
    best = suggested_sender(verdicts, default_id=context.ticket_number_id)
    return [SenderVerdict(v.context, v.refusals, v.warnings, suggested=v is best)
            for v in verdicts]


def _judged(context: ComposeContext, body: str,
            attachments: Sequence[MediaLike]) -> SenderVerdict:
    verdict = preflight(number=context.number, account=context.account,
                        contact=context.contact, to=context.contact.phone, body=body,
                        attachments=attachments)
    # "Nothing to send" is about the draft, not the number: every number would say it.
    refusals = tuple(r for r in verdict.refusals if r.code != NOTHING_TO_SEND)
    return SenderVerdict(context, refusals, verdict.warnings)


NOTHING_TO_SEND = 21602  # Twilio: "Message body is required"


def suggested_sender(verdicts: Sequence[SenderVerdict], *,
                     default_id: int) -> SenderVerdict | None:
    """The number the customer last texted when it can send; else one that can: a number
    of the customer's own country first (a local sender, local rates), then toll-free (it
    reaches US and Canadian customers without 10DLC registration), then the fewest doubts;
    None when no number can."""
    usable = [v for v in verdicts if v.can_send]
    for verdict in usable:
        if verdict.number_id == default_id:
            return verdict
    if not usable:
        return None
    return min(usable, key=lambda v: (
        country_of_number(v.context.number) != _region_of(v.context.contact.phone),
        v.context.number.sender_type is not SenderType.TOLL_FREE, len(v.warnings),
        v.number_id))


def _region_of(phone: str) -> str:
    try:
        return understood(phone).region
    except NotAPhoneNumber:
        return ""


def contact_for(phone: str, name: str = "", opted_out: bool = False) -> Contact:
    """The customer a new conversation is for, as preflight needs them (not yet stored)."""
    return Contact(id=0, phone=phone, name=name, opted_out=opted_out)
