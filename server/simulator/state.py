"""The simulator's in-memory model: accounts, numbers, messages, media.

Pure data and rules, no I/O: the ASGI app (api.py) and the runner decide when
things happen; this module decides what Twilio would say about them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import phonenumbers

from core import optout, sms
from core.preflight import MAX_MEDIA_TOTAL_BYTES, is_accepted_media_type
from server.simulator.media_fetch import Fetched

API_VERSION = "2010-04-01"
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})
MAX_BODY = 1600
MAX_MEDIA = 10

# Twilio's test-credential magic numbers (docs: iam/test-credentials).
MAGIC_VALID_FROM = "+15005550006"
MAGIC_FROM_ERRORS = {"+15005550001": 21212, "+15005550007": 21606, "+15005550008": 21611}
MAGIC_TO_ERRORS = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 lower-case hex digits."""
    return prefix + secrets.token_hex(16)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: ``Thu, 27 Nov 2026 14:00:00 +0000``."""
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def country_of(e164: str) -> str:
    """ISO country of an E.164 number ("US", "GB"...), "" when unknown."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(parsed)
    if not region or region == "ZZ":
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return "" if region == "ZZ" else region


def number_type(e164: str) -> str:
    """Twilio's IncomingPhoneNumber ``type``: local, tollFree or mobile."""
    if e164.startswith("+1") and e164[2:5] in TOLL_FREE_AREA_CODES:
        return "tollFree"
    if e164.startswith("+447"):
        return "mobile"
    return "local"


def is_us_long_code(e164: str) -> bool:
    return e164.startswith("+1") and number_type(e164) == "local"


class ApiError(Exception):
    """A Twilio REST error: HTTP status and the JSON body Twilio sends."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    status: str = "active"  # active | suspended | closed
    type: str = "Full"  # Trial | Full
    balance: str = "20.00"
    currency: str = "USD"
    verified: set[str] = field(default_factory=set)  # trial accounts may only text these
    geo_blocked: set[str] = field(default_factory=set)  # ISO countries without geo permission
    date_created: datetime = field(default_factory=now)
    date_updated: datetime = field(default_factory=now)

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.sid}"


@dataclass
class Number:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    sms: bool = True
    mms: bool = True
    voice: bool = True
    status: str = "in-use"
    a2p_registered: bool = False  # only matters for US long codes texting US numbers
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"
    status_callback: str = ""
    status_callback_method: str = "POST"
    date_created: datetime = field(default_factory=now)
    date_updated: datetime = field(default_factory=now)

    @property
    def type(self) -> str:
        return number_type(self.phone_number)


@dataclass
class Media:
    sid: str
    account_sid: str
    parent_sid: str
    content_type: str
    data: bytes | None = None  # a customer's bytes, or the fetched copy of an outbound MediaUrl
    url: str | None = None  # the MediaUrl an outbound message named
    cdn_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    date_created: datetime = field(default_factory=now)


@dataclass
class Message:
    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str  # inbound | outbound-api
    status: str
    num_segments: int
    media: list[Media] = field(default_factory=list)
    status_callback: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    price_unit: str | None = None
    date_created: datetime = field(default_factory=now)
    date_updated: datetime = field(default_factory=now)
    date_sent: datetime | None = None

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"


def segments(body: str, num_media: int = 0) -> int:
    counted = sms.analyze(body).segments
    return max(1, counted) if num_media or body else counted


@dataclass
class Knobs:
    """Ways to make delivery go wrong, set by tests or the demo.

    ``fail_to`` maps a recipient to the error code its messages end with
    (30003 unreachable handset, 30005 unknown destination, ...: status
    ``undelivered``); ``queue_full`` makes every create answer 21611;
    ``delivery_delay`` is the pause before each status callback;
    ``lose_status_callbacks`` loses every status callback on the way (the relay was
    down, or the network dropped it): Twilio calls a StatusCallback once and does not
    try again, so the message still moves on at Twilio and only fetching it tells.
    """

    fail_to: dict[str, int] = field(default_factory=dict)
    queue_full: bool = False
    delivery_delay: float = 0.02
    lose_status_callbacks: bool = False


DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30034: "Message from an unregistered number",
}

MEDIA_ERRORS = {
    11200: "HTTP retrieval failure",
    12300: "Invalid Content-Type",
    11751: "Media Message - Media exceeds messaging provider size limit",
}
"""Why Twilio fails an MMS after fetching its MediaUrls (message status ``failed``)."""


class State:
    """Everything the simulator knows.  Single-threaded: call it from the event loop."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, Number] = {}
        self.messages: dict[str, Message] = {}  # insertion order = creation order
        self.media: dict[str, Media] = {}
        self.cdn: dict[str, Media] = {}
        self.opt_outs: set[tuple[str, str]] = set()  # (our number, customer) after STOP
        self.knobs = Knobs()

    # -- setup ---------------------------------------------------------------------------
    def add_account(
        self,
        sid: str | None = None,
        auth_token: str | None = None,
        *,
        friendly_name: str = "Simulated account",
        status: str = "active",
        type: str = "Full",
        balance: str = "20.00",
    ) -> Account:
        account = Account(
            sid=sid or new_sid("AC"),
            auth_token=auth_token or secrets.token_hex(16),
            friendly_name=friendly_name,
            status=status,
            type=type,
            balance=balance,
        )
        self.accounts[account.sid] = account
        return account

    def add_number(
        self,
        account_sid: str,
        phone_number: str,
        *,
        mms: bool = True,
        sms: bool = True,
        voice: bool = True,
        friendly_name: str | None = None,
        status: str = "in-use",
        a2p_registered: bool = False,
        sms_url: str = "",
    ) -> Number:
        if account_sid not in self.accounts:
            raise KeyError(f"no account {account_sid}")
        if not E164_RE.match(phone_number):
            raise ValueError(f"not an E.164 number: {phone_number!r}")
        number = Number(
            sid=new_sid("PN"),
            account_sid=account_sid,
            phone_number=phone_number,
            friendly_name=friendly_name or pretty(phone_number),
            sms=sms,
            mms=mms,
            voice=voice,
            status=status,
            a2p_registered=a2p_registered,
            sms_url=sms_url,
        )
        self.numbers[number.sid] = number
        return number

    # -- look-ups ------------------------------------------------------------------------
    def authenticate(self, sid: str, token: str) -> Account | None:
        account = self.accounts.get(sid)
        if account is None or account.status == "closed":
            return None
        if not secrets.compare_digest(account.auth_token.encode(), token.encode()):
            return None
        return account

    def number_by_phone(self, phone: str, account_sid: str | None = None) -> Number | None:
        for number in self.numbers.values():
            if number.phone_number == phone and account_sid in (None, number.account_sid):
                return number
        return None

    def account_numbers(self, account_sid: str) -> list[Number]:
        return [n for n in self.numbers.values() if n.account_sid == account_sid]

    def account_messages(self, account_sid: str) -> list[Message]:
        """Newest first, as Twilio lists them."""
        found = [m for m in self.messages.values() if m.account_sid == account_sid]
        found.reverse()
        return found

    def is_opted_out(self, sender: str, customer: str) -> bool:
        return (sender, customer) in self.opt_outs

    # -- outbound ------------------------------------------------------------------------
    def create_message(
        self,
        account: Account,
        *,
        to: str,
        from_: str,
        body: str,
        media_urls: list[str],
        status_callback: str | None = None,
    ) -> Message:
        """Validate a create request as Twilio would; raise ApiError or return a queued message."""
        if account.status != "active":
            raise ApiError(10001, "Account is not active", 401)
        if not body and not media_urls:
            raise ApiError(21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise ApiError(
                21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media_urls) > MAX_MEDIA:
            raise ApiError(21623, "The number of media files exceeds the limit of 10.")
        for url in media_urls:
            if not re.match(r"^https?://[^/\s_]+(/\S*)?$", url):
                raise ApiError(21620, f"Invalid media URL(s): {url}")
        if not from_:
            raise ApiError(21603, "A 'From' phone number is required.")
        if not to:
            raise ApiError(21604, "A 'To' phone number is required.")
        if from_ in MAGIC_FROM_ERRORS:
            self._magic_from(from_)
        elif from_ != MAGIC_VALID_FROM:
            if not E164_RE.match(from_):
                raise ApiError(21212, f"The 'From' number {from_} is not a valid phone number.")
            number = self.number_by_phone(from_, account.sid)
            if number is None or not number.sms:
                raise ApiError(
                    21606,
                    f"The 'From' phone number provided ({from_}) is not a valid message-capable "
                    "Twilio phone number for this destination/account",
                )
            if media_urls and not number.mms:
                raise ApiError(
                    21606,
                    f"The 'From' phone number provided ({from_}) is not a valid MMS-capable "
                    "Twilio phone number for this destination/account",
                )
        if to in MAGIC_TO_ERRORS:
            self._magic_to(to)
        if not E164_RE.match(to):
            raise ApiError(21211, f"Invalid 'To' Phone Number: {to}")
        if country_of(to) in account.geo_blocked:
            raise ApiError(
                21408,
                f"Permission to send an SMS has not been enabled for the region indicated by "
                f"the 'To' number: {to}.",
            )
        if self.is_opted_out(from_, to):
            raise ApiError(21610, "Attempt to send to unsubscribed recipient")
        if account.type == "Trial" and to not in account.verified:
            raise ApiError(
                21608,
                f"The number {to} is unverified. Trial accounts may only send messages to "
                "verified numbers.",
            )
        if self.knobs.queue_full:
            raise ApiError(21611, "This 'From' number has exceeded the maximum number of queued "
                           "messages")
        if account.type == "Trial":
            body = "Sent from your Twilio trial account - " + body
        sid = new_sid("MM" if media_urls else "SM")
        message = Message(
            sid=sid,
            account_sid=account.sid,
            from_=from_,
            to=to,
            body=body,
            direction="outbound-api",
            status="queued",
            num_segments=segments(body, len(media_urls)),
            status_callback=status_callback or None,
        )
        for url in media_urls:
            media = Media(
                sid=new_sid("ME"), account_sid=account.sid, parent_sid=sid,
                content_type=guess_type(url), url=url,
            )
            message.media.append(media)
            self.media[media.sid] = media
        self.messages[sid] = message
        return message

    @staticmethod
    def _magic_from(from_: str) -> None:
        code = MAGIC_FROM_ERRORS[from_]
        if code == 21212:
            raise ApiError(21212, f"The 'From' number {from_} is not a valid phone number, "
                           "shortcode, or alphanumeric sender ID.")
        if code == 21606:
            raise ApiError(21606, f"The 'From' phone number provided ({from_}) is not a valid "
                           "message-capable Twilio phone number for this destination/account")
        raise ApiError(21611, "This 'From' number has exceeded the maximum number of queued "
                       "messages")

    @staticmethod
    def _magic_to(to: str) -> None:
        code = MAGIC_TO_ERRORS[to]
        messages = {
            21211: f"Invalid 'To' Phone Number: {to}",
            21612: f"The 'To' phone number: {to}, is not currently reachable using the 'From' "
            "phone number via SMS.",
            21408: "Permission to send an SMS has not been enabled for the region indicated by "
            f"the 'To' number: {to}.",
            21610: "Attempt to send to unsubscribed recipient",
            21614: f"'To' number {to} is not a valid mobile number",
        }
        raise ApiError(code, messages[code])

    def delivery_outcome(self, message: Message) -> tuple[str, int | None]:
        """The final status of an outbound message: delivered, or undelivered and why."""
        code = self.knobs.fail_to.get(message.to)
        if code is not None:
            return "undelivered", code
        number = self.number_by_phone(message.from_, message.account_sid)
        if (
            number is not None
            and is_us_long_code(number.phone_number)
            and not number.a2p_registered
            and message.to.startswith("+1")
            and country_of(message.to) in ("US", "")
        ):
            return "undelivered", 30034
        return "delivered", None

    def advance(self, message: Message, status: str, error_code: int | None = None) -> None:
        message.status = status
        message.date_updated = now()
        if status == "sent":
            message.date_sent = message.date_updated
            message.price = _price(message.num_segments)
            message.price_unit = "USD"
        if error_code is not None:
            message.error_code = error_code
            message.error_message = DELIVERY_ERRORS.get(error_code) or MEDIA_ERRORS.get(
                error_code)

    def refuse_media(self, message: Message, fetched: list[Fetched]) -> int | None:
        """Twilio's verdict on an outbound message's fetched media: None when it may go
        (the bytes and their real types are then kept, served like a customer's media),
        else the error code it fails with: 11200 a URL that did not answer 200, 12300 a
        Content-Type Twilio does not accept for MMS, 11751 more than 5 MB in all."""
        for item in fetched:
            if not item.ok:
                return 11200
            if not is_accepted_media_type(item.content_type):
                return 12300
        if sum(len(item.data) for item in fetched) > MAX_MEDIA_TOTAL_BYTES:
            return 11751
        for media, item in zip(message.media, fetched, strict=True):
            media.data = item.data
            media.content_type = item.content_type
            self.cdn[media.cdn_token] = media
        return None

    # -- inbound -------------------------------------------------------------------------
    def receive(
        self, from_: str, to: str, body: str, media: list[tuple[str, bytes]] | None = None
    ) -> tuple[Message, Number, optout.Keyword | None]:
        """Record a customer's text to one of our numbers, applying STOP/START."""
        number = self.number_by_phone(to)
        if number is None:
            raise LookupError(f"{to} is not a number of any simulated account")
        media = media or []
        if len(media) > MAX_MEDIA:
            raise ValueError("at most 10 media per message")
        sid = new_sid("MM" if media else "SM")
        message = Message(
            sid=sid,
            account_sid=number.account_sid,
            from_=from_,
            to=to,
            body=body,
            direction="inbound",
            status="received",
            num_segments=segments(body, len(media)),
            price="-0.00790",
            price_unit="USD",
        )
        message.date_sent = message.date_created
        for content_type, data in media:
            item = Media(
                sid=new_sid("ME"), account_sid=number.account_sid, parent_sid=sid,
                content_type=content_type, data=data,
            )
            message.media.append(item)
            self.media[item.sid] = item
            self.cdn[item.cdn_token] = item
        self.messages[sid] = message
        keyword = optout.keyword_in(body)
        if keyword is optout.Keyword.OPT_OUT:
            self.opt_outs.add((to, from_))
        elif keyword is optout.Keyword.OPT_IN:
            self.opt_outs.discard((to, from_))
        return message, number, keyword


def _price(num_segments: int) -> str:
    return f"-{0.0079 * max(1, num_segments):.5f}"


def guess_type(url: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed or "application/octet-stream"


def pretty(e164: str) -> str:
    """Twilio's friendly_name default: ``(888) 555-0100`` for NANP, else the E.164 itself."""
    if e164.startswith("+1") and len(e164) == 12:
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    return e164
