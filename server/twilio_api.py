"""Every call smsdesk makes to Twilio, through the official twilio SDK.

The SDK is synchronous (requests underneath); callers run these functions in
a thread (``asyncio.to_thread``) so the relay's event loop never blocks. The
base URL can be redirected (``SMSDESK_TWILIO_API_URL``) with a custom
HttpClient, so the simulator is reached by exactly the code that reaches
Twilio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from requests import RequestException
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.models import SenderType
from server.config import TWILIO_API_URL, twilio_api_url

TIMEOUT_SECONDS = 15
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
TOLL_FREE_AREA_CODES = {"800", "833", "844", "855", "866", "877", "888"}
INBOUND_PATH = "/twilio/inbound"
STATUS_PATH = "/twilio/status"
CONSOLE_KEYS = (
    "Twilio console > Account > Keys & Credentials > API keys & tokens > Live Credentials"
)
#: No answer from Twilio at all (DNS, refused connection, timeout): the SDK lets these through.
NETWORK_ERRORS = (RequestException, OSError)


class RedirectingHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends api.twilio.com requests to another base URL."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API_URL):
            url = self.base_url + url[len(TWILIO_API_URL):]
        return super().request(method, url, *args, **kwargs)


def sender_type_of(e164: str) -> SenderType:
    """How carriers class a sender, from its number alone (Twilio does not say)."""
    digits = e164.lstrip("+")
    if not e164.startswith("+"):
        return SenderType.ALPHANUMERIC if not digits.isdigit() else SenderType.SHORT_CODE
    if e164.startswith("+1") and digits[1:4] in TOLL_FREE_AREA_CODES:
        return SenderType.TOLL_FREE
    return SenderType.LONG_CODE


def country_of(e164: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    except phonenumbers.NumberParseException:
        return ""


def webhook_urls(public_url: str) -> tuple[str, str]:
    """The SmsUrl and StatusCallback a number needs for its texts to reach this relay."""
    base = public_url.rstrip("/")
    return base + INBOUND_PATH, base + STATUS_PATH


def refusal_words(error: Exception) -> str:
    """Why a call to Twilio failed, in words an admin can act on (the CLI and the inbox)."""
    if isinstance(error, TwilioRestException):
        if error.code == 20003 or error.status == 401:
            return ("Twilio did not accept that Account SID and auth token (20003). Copy both"
                    f" from {CONSOLE_KEYS}.")
        return f"Twilio refused: {error.msg} ({error.code})"
    return (f"could not reach Twilio ({type(error).__name__}); check this machine's internet"
            " connection and try again")


def inactive_words(status: str) -> str:
    """Why an account that is not active cannot be used (Twilio refuses its sends: 10001)."""
    if status == "suspended":
        return ("the Twilio account is suspended, so Twilio refuses to send from it (10001):"
                " check billing and any email from Twilio in the Twilio console, and contact"
                " Twilio support to reactivate it")
    return f"the Twilio account is {status}; reactivate it in Twilio first"


TRIAL_LIMITS = (
    "this is a Twilio Trial account: it can only text numbers verified in Twilio console >"
    " Phone Numbers > Verified Caller IDs, and every text starts with \"Sent from your"
    " Twilio trial account\"; upgrade it in the Twilio console to text anyone"
)


def client_for(sid: str, token: str) -> Client:
    base = twilio_api_url()
    http = (
        TwilioHttpClient(timeout=TIMEOUT_SECONDS)
        if base == TWILIO_API_URL
        else RedirectingHttpClient(base)
    )
    return Client(sid, token, http_client=http)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    sid: str
    friendly_name: str
    status: str  # active | suspended | closed
    type: str  # Trial | Full


@dataclass(frozen=True, slots=True)
class NumberInfo:
    sid: str
    phone_number: str
    friendly_name: str
    sms: bool
    mms: bool
    status: str
    sms_url: str | None
    status_callback: str | None
    sms_method: str = "POST"
    status_callback_method: str = "POST"


def fetch_account(sid: str, token: str) -> AccountInfo:
    """Check credentials: raises TwilioRestException (20003) when they are wrong."""
    account = client_for(sid, token).api.v2010.accounts(sid).fetch()
    return AccountInfo(
        sid=account.sid, friendly_name=account.friendly_name or "",
        status=str(account.status), type=str(account.type),
    )


@dataclass(frozen=True, slots=True)
class BalanceInfo:
    balance: str  # as Twilio says it: "12.50"
    currency: str


def list_sms_numbers(sid: str, token: str) -> list[NumberInfo]:
    """The account's numbers that can send or receive SMS."""
    numbers = client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers.list()
    return [info for info in map(_number_info, numbers) if info.sms or info.mms]


def _number_info(number: Any) -> NumberInfo:
    caps = {k.lower(): bool(v) for k, v in (number.capabilities or {}).items()}
    return NumberInfo(
        sid=number.sid, phone_number=number.phone_number,
        friendly_name=number.friendly_name or "", sms=caps.get("sms", False),
        mms=caps.get("mms", False), status=str(number.status or "in-use"),
        sms_url=number.sms_url, status_callback=number.status_callback,
        sms_method=str(number.sms_method or "POST"),
        status_callback_method=str(number.status_callback_method or "POST"),
    )


def is_gone(error: Exception) -> bool:
    """Twilio no longer knows a resource by that SID (20404): e.g. the number was released
    and bought back, or moved between accounts, and has a new SID."""
    return isinstance(error, TwilioRestException) and (error.code == 20404
                                                       or error.status == 404)


def find_number(sid: str, token: str, e164: str) -> NumberInfo | None:
    """The account's number with this E.164, whatever its SID is today."""
    found = client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers.list(
        phone_number=e164)
    return next((_number_info(n) for n in found if n.phone_number == e164), None)


def verified_caller_ids(sid: str, token: str) -> list[str]:
    """The numbers verified in the account (OutgoingCallerIds): all a Trial account may text."""
    found = client_for(sid, token).api.v2010.accounts(sid).outgoing_caller_ids.list()
    return sorted({str(c.phone_number) for c in found if c.phone_number})


def fetch_balance(sid: str, token: str) -> BalanceInfo:
    balance = client_for(sid, token).api.v2010.accounts(sid).balance.fetch()
    return BalanceInfo(balance=str(balance.balance), currency=str(balance.currency or ""))


def point_number_at(sid: str, token: str, number_sid: str, public_url: str) -> NumberInfo:
    """Point a number's incoming-message webhook and status callback at this relay.

    Returns the number as Twilio now has it, so the caller can show what was set.
    """
    sms_url, status_callback = webhook_urls(public_url)
    updated = client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers(
        number_sid).update(sms_url=sms_url, sms_method="POST", status_callback=status_callback,
                           status_callback_method="POST")
    return _number_info(updated)


def point_number_found(sid: str, token: str, number_sid: str, e164: str,
                       public_url: str) -> NumberInfo:
    """``point_number_at``, finding the number by its E.164 when its stored SID is gone.

    The returned number carries the SID Twilio has now, so the caller can store it.
    """
    try:
        return point_number_at(sid, token, number_sid, public_url)
    except TwilioRestException as error:
        if not is_gone(error):
            raise
        found = find_number(sid, token, e164)
        if found is None:
            raise
        return point_number_at(sid, token, found.sid, public_url)


def webhooks_of(number: NumberInfo) -> dict[str, str]:
    """A number's webhooks as ``prior_webhooks`` keeps them (and ``restore_webhooks`` reads)."""
    return {"sms_url": number.sms_url or "", "sms_method": number.sms_method or "POST",
            "status_callback": number.status_callback or "",
            "status_callback_method": number.status_callback_method or "POST"}


def remembered_webhooks(number: NumberInfo, here: tuple[str, str]) -> dict[str, Any]:
    """``prior_webhooks`` to store for a number about to be pointed ``here`` (SmsUrl,
    StatusCallback): what it has now, unless it already points here (then what it had before
    is remembered already, or was never known)."""
    if (number.sms_url or "", number.status_callback or "") == here:
        return {}
    return {"prior_webhooks": webhooks_of(number)}


def restore_webhooks(sid: str, token: str, number_sid: str, e164: str,
                     prior: dict[str, str]) -> NumberInfo:
    """Give a number back the webhooks it had before smsdesk (empty ``prior``: clear them),
    finding it by E.164 when its SID changed."""
    values = {"sms_url": prior.get("sms_url", ""), "sms_method": prior.get("sms_method", "POST"),
              "status_callback": prior.get("status_callback", ""),
              "status_callback_method": prior.get("status_callback_method", "POST")}
    try:
        return set_webhooks(sid, token, number_sid, **values)
    except TwilioRestException as error:
        found = find_number(sid, token, e164) if is_gone(error) else None
        if found is None:
            raise
        return set_webhooks(sid, token, found.sid, **values)


def set_webhooks(sid: str, token: str, number_sid: str, *, sms_url: str, sms_method: str,
                 status_callback: str, status_callback_method: str) -> NumberInfo:
    """Set a number's SmsUrl and StatusCallback to given values (empty clears them)."""
    updated = client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers(
        number_sid).update(sms_url=sms_url, sms_method=sms_method or "POST",
                           status_callback=status_callback,
                           status_callback_method=status_callback_method or "POST")
    return _number_info(updated)


__all__ = [
    "ACCOUNT_SID",
    "NETWORK_ERRORS",
    "TRIAL_LIMITS",
    "AccountInfo",
    "BalanceInfo",
    "NumberInfo",
    "RedirectingHttpClient",
    "SentInfo",
    "TwilioRestException",
    "client_for",
    "country_of",
    "fetch_account",
    "fetch_balance",
    "fetch_message",
    "find_number",
    "inactive_words",
    "is_gone",
    "list_sms_numbers",
    "messages_sent_since",
    "point_number_at",
    "point_number_found",
    "refusal_words",
    "remembered_webhooks",
    "restore_webhooks",
    "send_message",
    "sender_type_of",
    "set_webhooks",
    "verified_caller_ids",
    "webhook_urls",
    "webhooks_of",
]


@dataclass(frozen=True, slots=True)
class SentInfo:
    sid: str
    status: str
    error_code: int | None
    to: str
    from_: str
    body: str
    date_created: Any


def send_message(sid: str, token: str, *, to: str, from_: str, body: str,
                 media_urls: list[str], status_callback: str) -> SentInfo:
    """Hand one message to Twilio. Raises TwilioRestException when Twilio refuses it."""
    kwargs: dict[str, Any] = {"to": to, "from_": from_, "status_callback": status_callback}
    if body:
        kwargs["body"] = body
    if media_urls:
        kwargs["media_url"] = media_urls
    return _sent(client_for(sid, token).api.v2010.accounts(sid).messages.create(**kwargs))


def messages_sent_since(sid: str, token: str, *, to: str, from_: str,
                        since: Any) -> list[SentInfo]:
    """What Twilio has from ``from_`` to ``to`` since a moment: for reconciling after a crash."""
    found = client_for(sid, token).api.v2010.accounts(sid).messages.list(
        to=to, from_=from_, date_sent_after=since, limit=200
    )
    return [_sent(m) for m in found]


def fetch_message(sid: str, token: str, message_sid: str) -> SentInfo:
    """One message as Twilio has it now: its status when a status callback was lost.

    Raises TwilioRestException (20404, see ``is_gone``) when Twilio no longer has it.
    """
    return _sent(client_for(sid, token).api.v2010.accounts(sid).messages(message_sid).fetch())


def _sent(message: Any) -> SentInfo:
    return SentInfo(sid=message.sid, status=str(message.status), error_code=message.error_code,
                    to=message.to, from_=message.from_, body=message.body or "",
                    date_created=message.date_created)
