"""Every call smsdesk makes to Twilio, through the official twilio SDK.

The SDK is synchronous (requests underneath); callers run these functions in
a thread (``asyncio.to_thread``) so the relay's event loop never blocks. The
base URL can be redirected (``SMSDESK_TWILIO_API_URL``) with a custom
HttpClient, so the simulator is reached by exactly the code that reaches
Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from server.config import TWILIO_API_URL, twilio_api_url

TIMEOUT_SECONDS = 15


class RedirectingHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends api.twilio.com requests to another base URL."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(TWILIO_API_URL):
            url = self.base_url + url[len(TWILIO_API_URL):]
        return super().request(method, url, *args, **kwargs)


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


def list_sms_numbers(sid: str, token: str) -> list[NumberInfo]:
    """The account's numbers that can send or receive SMS."""
    numbers = client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers.list()
    found = []
    for number in numbers:
        caps = {k.lower(): bool(v) for k, v in (number.capabilities or {}).items()}
        if not (caps.get("sms") or caps.get("mms")):
            continue
        found.append(NumberInfo(
            sid=number.sid, phone_number=number.phone_number,
            friendly_name=number.friendly_name or "", sms=caps.get("sms", False),
            mms=caps.get("mms", False), status=str(number.status or "in-use"),
            sms_url=number.sms_url, status_callback=number.status_callback,
        ))
    return found


def point_number_at(sid: str, token: str, number_sid: str, public_url: str) -> None:
    """Point a number's incoming-message webhook and status callback at this relay."""
    base = public_url.rstrip("/")
    client_for(sid, token).api.v2010.accounts(sid).incoming_phone_numbers(number_sid).update(
        sms_url=f"{base}/twilio/inbound", sms_method="POST",
        status_callback=f"{base}/twilio/status", status_callback_method="POST",
    )


__all__ = [
    "AccountInfo",
    "NumberInfo",
    "RedirectingHttpClient",
    "SentInfo",
    "TwilioRestException",
    "client_for",
    "fetch_account",
    "list_sms_numbers",
    "messages_sent_since",
    "point_number_at",
    "send_message",
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
