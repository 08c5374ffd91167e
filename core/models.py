"""The domain objects both the relay and the inbox speak about.

Plain dataclasses with no behaviour that needs I/O: the store turns rows into
these, the wire protocol turns these into JSON, and the rules in ``core`` take
them as arguments so they can be tested without a database or a network.
Timestamps are Unix epoch milliseconds (``int``) so they sort and compare
exactly and survive JSON unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def now_ms() -> int:
    """Wall-clock time in the unit every timestamp in smsdesk uses."""
    return time.time_ns() // 1_000_000


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class SenderType(StrEnum):
    """How a number is classed by carriers; decides which sending rules apply."""

    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    ALPHANUMERIC = "alphanumeric"


class NumberStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Channel(StrEnum):
    SMS = "sms"
    MMS = "mms"
    EMAIL = "email"


class MessageStatus(StrEnum):
    """Twilio's message statuses, plus ``received`` for what customers send us."""

    ACCEPTED = "accepted"  # a Messaging Service took it and will pick a sender
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    PARTIALLY_DELIVERED = "partially_delivered"
    RECEIVING = "receiving"
    RECEIVED = "received"
    READ = "read"


@dataclass(slots=True)
class Account:
    """A connected Twilio account. ``auth_token`` never leaves the relay."""

    id: int
    name: str
    sid: str
    auth_token: str
    geo_permissions: tuple[str, ...] = ()  # ISO 3166 alpha-2; empty means "not configured"
    status: str = "active"  # Twilio: active | suspended | closed
    type: str = "Full"  # Twilio: Trial | Full
    connected: bool = True
    created_at: int = 0
    # A Trial account may text only these (Twilio's OutgoingCallerIds); empty: not fetched.
    verified_caller_ids: tuple[str, ...] = ()

    @property
    def is_trial(self) -> bool:
        return self.type.lower() == "trial"


@dataclass(slots=True)
class PhoneNumber:
    id: int
    account_id: int
    e164: str
    sid: str = ""  # PN...
    mms: bool = False  # False: SMS-only
    status: NumberStatus = NumberStatus.ACTIVE
    sender_type: SenderType = SenderType.LONG_CODE
    country: str = ""  # ISO 3166 alpha-2 of the number itself
    a2p_registered: bool = False
    default_group_id: int | None = None
    csat: bool = False
    enabled: bool = True
    friendly_name: str = ""
    # SmsUrl, SmsMethod, StatusCallback, StatusCallbackMethod as they were before smsdesk
    # pointed the number here, so disconnecting can give them back; None: not remembered.
    prior_webhooks: dict[str, str] | None = None
    # CSAT (issue 14; ``csat`` turns it on): the survey text sent when a ticket is
    # resolved, the follow-up asking for a comment after a rating ('' for none), the days
    # a reply still counts as the rating, and whether tickets resolved in bulk get it too.
    csat_text: str = "How did we do? Reply 1 (poor) to 5 (great)."
    csat_followup: str = ""
    csat_window_days: int = 3
    csat_bulk: bool = False
    # Reports (issue 14): what one segment sent costs ("0.0079", as typed; None: not set)
    # and in which currency, for the estimated cost per number.
    segment_price: str | None = None
    price_currency: str = "USD"


@dataclass(slots=True)
class HeldText:
    """A text that arrived on a disabled number or a disconnected account's: kept, not a
    ticket, until an admin opens it (troubleshooting lists them)."""

    id: int
    number_id: int
    message_sid: str
    from_phone: str
    body: str = ""
    media: tuple[Media, ...] = ()
    segments: int = 1
    reason: str = "disabled"  # disabled | disconnected
    received_at: int = 0


@dataclass(slots=True)
class OptOutChange:
    """One line of a contact's opt-out audit trail."""

    contact_id: int
    opted_out: bool
    source: str  # "keyword:STOP", "agent:<name>", "twilio:21610", ...
    at: int
    number_id: int | None = None
    phone: str | None = None  # which of the contact's phones said it


# A contact who wrote by email before anyone knew their phone still needs a unique
# ``contacts.phone`` (the column is NOT NULL UNIQUE): it holds this prefix and the address.
EMAIL_ONLY_PREFIX = "email:"


def email_only_phone(address: str) -> str:
    """The stand-in phone of a contact known only by email (never a real E.164)."""
    return EMAIL_ONLY_PREFIX + address


@dataclass(slots=True)
class Contact:
    id: int
    phone: str  # E.164; or EMAIL_ONLY_PREFIX + address for one known only by email
    name: str = ""
    email: str = ""
    opted_out: bool = False
    created_at: int = 0
    note: str = ""  # what agents should know about this person

    @property
    def has_phone(self) -> bool:
        """False for a contact known only by email: no text can go to them."""
        return not self.phone.startswith(EMAIL_ONLY_PREFIX)


@dataclass(slots=True)
class Group:
    id: int
    name: str


@dataclass(slots=True)
class Agent:
    id: int
    name: str
    role: Role = Role.AGENT
    group_ids: tuple[int, ...] = ()
    token_hash: str = ""
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(slots=True)
class Ticket:
    id: int  # the ticket number agents quote
    contact_id: int
    number_id: int
    subject: str = ""
    status: TicketStatus = TicketStatus.OPEN
    priority: Priority = Priority.LOW
    type: str = ""
    group_id: int | None = None
    agent_id: int | None = None
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, Any] = field(default_factory=dict)
    unread: bool = True
    deleted: bool = False
    created_at: int = 0
    updated_at: int = 0
    last_message_at: int = 0
    last_preview: str = ""
    # The phone this conversation is with (one of the contact's): replies go there.
    customer_phone: str = ""
    # In the Trash: since when (the retention counts from it) and who put it there.
    deleted_at: int | None = None
    deleted_by: int | None = None
    # The channel of its newest message, SMS or email (MMS counts as SMS): the list's mark.
    last_channel: Channel = Channel.SMS
    # SLA (issue 14, core.sla): when the first response and the resolution are due (epoch ms;
    # None: no target, met, paused or stopped), when an agent first answered, when it was
    # last resolved (None while open), the business ms counted towards resolution so far and
    # since when its clock runs (None: paused or stopped).
    first_response_due: int | None = None
    resolution_due: int | None = None
    first_responded_at: int | None = None
    resolved_at: int | None = None
    sla_used: int = 0
    sla_since: int | None = None
    overdue: bool = False  # a due had passed when the ticket was read (the list's mark)


@dataclass(slots=True)
class Media:
    """An attachment, stored on disk by the sha256 of its bytes."""

    content_type: str
    size: int
    sha256: str = ""
    filename: str = ""
    twilio_url: str = ""


@dataclass(slots=True)
class Message:
    id: int
    ticket_id: int
    direction: Direction
    channel: Channel = Channel.SMS
    body: str = ""
    media: tuple[Media, ...] = ()
    author_agent_id: int | None = None
    twilio_sid: str | None = None
    status: MessageStatus = MessageStatus.RECEIVED
    error_code: int | None = None
    segments: int = 1
    encoding: str = "GSM-7"
    created_at: int = 0
    updated_at: int = 0
    # The business number that sent this reply when it is not the ticket's own; None: the
    # ticket's number (and always None for what customers send).
    from_number_id: int | None = None
    # Email only (None for SMS): its subject; its RFC 5322 Message-ID, angle brackets kept;
    # what the mail server said of it (accepted, refused, a bounce's reason); and, for mail
    # a customer sent, the full original kept as media, one key away from the reply shown.
    subject: str | None = None
    mail_id: str | None = None
    mail_detail: str | None = None
    mail_original: Media | None = None
    # Written by the SMS bot (issue 13), not a person: author_agent_id is None and the
    # thread shows it as the bot's; the loop guard counts these per ticket.
    by_bot: bool = False
    # What the desk sent it for, when it wrote it on its own: 'csat_survey' (a ticket was
    # resolved), 'csat_followup' (the survey's question after a rating); None otherwise.
    purpose: str | None = None


@dataclass(slots=True)
class Note:
    """A private note: agents only, never sent to the customer."""

    id: int
    ticket_id: int
    agent_id: int | None
    body: str
    created_at: int = 0


@dataclass(slots=True)
class TimeEntry:
    id: int
    ticket_id: int
    agent_id: int
    seconds: int
    note: str = ""
    created_at: int = 0
    billable: bool = False


@dataclass(slots=True)
class Event:
    """One entry of the append-only event log; ``seq`` only ever grows."""

    seq: int
    kind: str
    ticket_id: int | None
    payload: dict[str, Any]
    at: int
