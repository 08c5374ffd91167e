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
    )


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
    "inactive_words",
    "list_sms_numbers",
    "messages_sent_since",
    "point_number_at",
    "refusal_words",
    "send_message",
    "sender_type_of",
    "webhook_urls",
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


def _sent(message: Any) -> SentInfo:
    return SentInfo(sid=message.sid, status=str(message.status), error_code=message.error_code,
                    to=message.to, from_=message.from_, body=message.body or "",
                    date_created=message.date_created)
