"""The simulator's HTTP face: a bare ASGI app speaking Twilio's REST API 2010-04-01.

Form-encoded request bodies, JSON responses shaped like Twilio's OpenAPI
description, Basic auth with AccountSid:AuthToken, Twilio's error JSON.  Under
``/_sim/`` sit the simulator's own endpoints (control and the media "CDN"),
which need no auth.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from server.simulator.state import (
    API_VERSION,
    Account,
    ApiError,
    Media,
    Message,
    Number,
    State,
    new_sid,
    rfc2822,
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Form = dict[str, list[str]]

_ACCOUNT_SUBRESOURCES = {
    "available_phone_numbers": "AvailablePhoneNumbers",
    "calls": "Calls",
    "conferences": "Conferences",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "notifications": "Notifications",
    "outgoing_caller_ids": "OutgoingCallerIds",
    "recordings": "Recordings",
    "transcriptions": "Transcriptions",
    "addresses": "Addresses",
    "signing_keys": "SigningKeys",
    "connect_apps": "ConnectApps",
    "sip": "SIP",
    "authorized_connect_apps": "AuthorizedConnectApps",
    "usage": "Usage",
    "keys": "Keys",
    "applications": "Applications",
    "short_codes": "SMS/ShortCodes",
    "queues": "Queues",
    "messages": "Messages",
    "balance": "Balance",
}

_MAX_BODY_BYTES = 8 * 1024 * 1024


# -- JSON shapes (see /work/shared/twilio-oai/twilio_api_v2010.json) ---------------------------
def account_json(account: Account) -> dict[str, Any]:
    return {
        "auth_token": account.auth_token,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_updated),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            key: f"{account.uri}/{path}.json" for key, path in _ACCOUNT_SUBRESOURCES.items()
        },
        "type": account.type,
        "uri": f"{account.uri}.json",
    }


def balance_json(account: Account) -> dict[str, Any]:
    return {"account_sid": account.sid, "balance": account.balance, "currency": account.currency}


def number_json(number: Number) -> dict[str, Any]:
    return {
        "account_sid": number.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "capabilities": {
            "voice": number.voice, "sms": number.sms, "mms": number.mms, "fax": False,
        },
        "date_created": rfc2822(number.date_created),
        "date_updated": rfc2822(number.date_updated),
        "emergency_status": "Inactive",
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "origin": "twilio",
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_application_sid": "",
        "sms_fallback_method": number.sms_fallback_method,
        "sms_fallback_url": number.sms_fallback_url,
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status_callback": number.status_callback,
        "status_callback_method": number.status_callback_method,
        "trunk_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{number.account_sid}/IncomingPhoneNumbers/"
        f"{number.sid}.json",
        "voice_application_sid": "",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_url": None,
        "bundle_sid": None,
        "voice_receive_mode": "voice",
        "status": number.status,
        "type": number.type,
    }


def caller_id_json(account: Account, phone: str) -> dict[str, Any]:
    """An OutgoingCallerId as Twilio lists it; its SID is derived from the phone, so stable."""
    sid = "PN" + hashlib.sha256(f"{account.sid}{phone}".encode()).hexdigest()[:32]
    return {
        "sid": sid,
        "account_sid": account.sid,
        "friendly_name": phone,
        "phone_number": phone,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_created),
        "uri": f"/{API_VERSION}/Accounts/{account.sid}/OutgoingCallerIds/{sid}.json",
    }


def reissue_number_sid(state: State, phone: str) -> Number:
    """Give a number a new SID, as Twilio does when a number is released and bought back,
    or moved between accounts: anything that kept the old SID now gets 20404."""
    number = state.number_by_phone(phone)
    if number is None:
        raise LookupError(f"no number {phone}")
    del state.numbers[number.sid]
    number.sid = new_sid("PN")
    state.numbers[number.sid] = number
    return number


def message_json(message: Message) -> dict[str, Any]:
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "num_media": str(len(message.media)),
        "num_segments": str(message.num_segments),
        "price": message.price,
        "price_unit": message.price_unit,
        "messaging_service_sid": None,
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": message.uri.removesuffix(".json") + "/Media.json"},
        "to": message.to,
        "uri": message.uri,
    }


def media_json(media: Media) -> dict[str, Any]:
    return {
        "account_sid": media.account_sid,
        "content_type": media.content_type,
        "date_created": rfc2822(media.date_created),
        "date_updated": rfc2822(media.date_created),
        "parent_sid": media.parent_sid,
        "sid": media.sid,
        "uri": f"/{API_VERSION}/Accounts/{media.account_sid}/Messages/{media.parent_sid}/Media/"
        f"{media.sid}.json",
    }


# -- request helpers ------------------------------------------------------------------------------
class Response:
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = [("content-type", content_type), *(headers or [])]

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload).encode())

    @classmethod
    def error(cls, error: ApiError) -> Response:
        headers = [("www-authenticate", 'Basic realm="Twilio API"')] if error.status == 401 else []
        response = cls.json(error.status, error.to_json())
        response.headers.extend(headers)
        return response


def _not_found(path: str) -> ApiError:
    return ApiError(20404, f"The requested resource {path} was not found", 404)


def _unauthorized() -> ApiError:
    return ApiError(20003, "Authenticate", 401)


def _first(form: Form, key: str, default: str = "") -> str:
    values = form.get(key)
    return values[0] if values else default


def _parse_date(value: str, *, end_of_day: bool) -> tuple[datetime, bool]:
    """A DateSent filter value: (moment, whether it was a whole day)."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            if end_of_day:
                return day + timedelta(days=1) - timedelta(seconds=1), True
            return datetime.combine(day.date(), time(), UTC), True
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(20001, f"Invalid date: {value}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def _paged(
    path: str, key: str, items: list[Any], query: Form, filters: dict[str, str], render: Any
) -> Response:
    try:
        page_size = max(1, min(1000, int(_first(query, "PageSize", "50"))))
        page = max(0, int(_first(query, "Page", "0")))
    except ValueError as exc:
        raise ApiError(20001, "Invalid paging parameters") from exc
    start = page * page_size
    chosen = items[start : start + page_size]

    def uri(n: int, token: str | None = None) -> str:
        params = {k: v for k, v in filters.items() if v}
        params.update(PageSize=str(page_size), Page=str(n))
        if token:
            params["PageToken"] = token
        return f"{path}?{urlencode(params)}"

    has_next = start + page_size < len(items)
    last_sid = getattr(chosen[-1], "sid", "") if chosen else ""
    return Response.json(
        200,
        {
            key: [render(item) for item in chosen],
            "end": start + max(len(chosen) - 1, 0),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, f"PA{last_sid[2:]}") if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": uri(page),
        },
    )


TextHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
CreatedHook = Callable[[Message], None]

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)\.json$"), "account"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/Balance\.json$"), "balance"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/IncomingPhoneNumbers\.json$"),
     "numbers"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/IncomingPhoneNumbers/(?P<pn>PN\w+)"
                r"\.json$"), "number"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/OutgoingCallerIds\.json$"),
     "caller_ids"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/Messages\.json$"), "messages"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/Messages/(?P<msg>(SM|MM)\w+)\.json$"),
     "message"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/Messages/(?P<msg>(SM|MM)\w+)/Media"
                r"\.json$"), "media_list"),
    (re.compile(rf"^/{API_VERSION}/Accounts/(?P<ac>AC\w+)/Messages/(?P<msg>(SM|MM)\w+)/Media/"
                r"(?P<me>ME\w+)(?P<json>\.json)?$"), "media"),
]


class App:
    """The ASGI application.  ``on_created`` schedules delivery of a new outbound message;
    ``on_text`` handles POST /_sim/text (a simulated customer texting)."""

    def __init__(
        self,
        state: State,
        *,
        base_url: Callable[[], str],
        on_created: CreatedHook,
        on_text: TextHandler | None = None,
    ) -> None:
        self.state = state
        self.base_url = base_url
        self.on_created = on_created
        self.on_text = on_text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            body = await _read_body(receive)
            response = await self.handle(scope, body)
        except ApiError as error:
            response = Response.error(error)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def handle(self, scope: Scope, body: bytes) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if path.startswith("/_sim/"):
            return await self._control(path, method, body)
        for pattern, name in _ROUTES:
            found = pattern.match(path)
            if found is None:
                continue
            account = self._authenticate(scope, found["ac"])
            form: Form = {}
            if method == "POST":
                form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            handler = getattr(self, f"_{name}")
            return handler(method, path, account, found, query, form)
        raise _not_found(path)

    def _authenticate(self, scope: Scope, account_sid: str) -> Account:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise _unauthorized()
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _unauthorized() from exc
        account = self.state.authenticate(user, password)
        if account is None or account.sid != account_sid:
            raise _unauthorized()
        return account

    # -- resources -----------------------------------------------------------------------
    @staticmethod
    def _only(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(20004, "Method not allowed", 405)

    def _account(self, method: str, path: str, account: Account, *_: Any) -> Response:
        self._only(method, "GET")
        return Response.json(200, account_json(account))

    def _balance(self, method: str, path: str, account: Account, *_: Any) -> Response:
        self._only(method, "GET")
        return Response.json(200, balance_json(account))

    def _numbers(
        self, method: str, path: str, account: Account, _m: Any, query: Form, _f: Form
    ) -> Response:
        self._only(method, "GET")
        numbers = self.state.account_numbers(account.sid)
        phone = _first(query, "PhoneNumber")
        name = _first(query, "FriendlyName")
        if phone:
            numbers = [n for n in numbers if phone in n.phone_number]
        if name:
            numbers = [n for n in numbers if n.friendly_name == name]
        filters = {"PhoneNumber": phone, "FriendlyName": name}
        return _paged(path, "incoming_phone_numbers", numbers, query, filters, number_json)

    def _caller_ids(
        self, method: str, path: str, account: Account, _m: Any, query: Form, _f: Form
    ) -> Response:
        """The verified caller IDs: the only numbers a Trial account may text."""
        self._only(method, "GET")
        phones = sorted(account.verified)
        phone = _first(query, "PhoneNumber")
        if phone:
            phones = [p for p in phones if p == phone]
        filters = {"PhoneNumber": phone}
        return _paged(path, "outgoing_caller_ids", phones, query, filters,
                      lambda p: caller_id_json(account, p))

    def _number(
        self, method: str, path: str, account: Account, match: Any, _q: Form, form: Form
    ) -> Response:
        self._only(method, "GET", "POST")
        number = self.state.numbers.get(match["pn"])
        if number is None or number.account_sid != account.sid:
            raise _not_found(path)
        if method == "POST":
            fields = {
                "SmsUrl": "sms_url", "SmsMethod": "sms_method",
                "SmsFallbackUrl": "sms_fallback_url", "SmsFallbackMethod": "sms_fallback_method",
                "StatusCallback": "status_callback",
                "StatusCallbackMethod": "status_callback_method",
                "FriendlyName": "friendly_name",
            }
            for param, attr in fields.items():
                if param not in form:
                    continue
                value = _first(form, param)
                if attr.endswith("method"):
                    value = value.upper()
                    if value not in ("GET", "POST"):
                        raise ApiError(21701, f"{param} must be GET or POST")
                setattr(number, attr, value)
            number.date_updated = datetime.now(UTC).replace(microsecond=0)
        return Response.json(200, number_json(number))

    def _messages(
        self, method: str, path: str, account: Account, _m: Any, query: Form, form: Form
    ) -> Response:
        self._only(method, "GET", "POST")
        if method == "POST":
            message = self.state.create_message(
                account,
                to=_first(form, "To").strip(),
                from_=_first(form, "From").strip(),
                body=_first(form, "Body"),
                media_urls=[url for url in form.get("MediaUrl", []) if url],
                status_callback=_first(form, "StatusCallback") or None,
            )
            self.on_created(message)
            return Response.json(201, message_json(message))
        messages = self.state.account_messages(account.sid)
        to, from_ = _first(query, "To"), _first(query, "From")
        if to:
            messages = [m for m in messages if m.to == to]
        if from_:
            messages = [m for m in messages if m.from_ == from_]
        filters = {"To": to, "From": from_}
        for key, op in (("DateSent", "="), ("DateSent<", "<"), ("DateSent>", ">")):
            value = _first(query, key)
            if not value:
                continue
            filters[key] = value
            messages = _filter_date(messages, value, op)
        return _paged(path, "messages", messages, query, filters, message_json)

    def _find_message(self, path: str, account: Account, sid: str) -> Message:
        message = self.state.messages.get(sid)
        if message is None or message.account_sid != account.sid:
            raise _not_found(path)
        return message

    def _message(
        self, method: str, path: str, account: Account, match: Any, *_: Any
    ) -> Response:
        self._only(method, "GET")
        return Response.json(200, message_json(self._find_message(path, account, match["msg"])))

    def _media_list(
        self, method: str, path: str, account: Account, match: Any, query: Form, _f: Form
    ) -> Response:
        self._only(method, "GET")
        message = self._find_message(path, account, match["msg"])
        return _paged(path, "media_list", message.media, query, {}, media_json)

    def _media(
        self, method: str, path: str, account: Account, match: Any, *_: Any
    ) -> Response:
        self._only(method, "GET")
        message = self._find_message(path, account, match["msg"])
        media = next((m for m in message.media if m.sid == match["me"]), None)
        if media is None:
            raise _not_found(path)
        if match["json"]:
            return Response.json(200, media_json(media))
        if media.data is None:  # an outbound MediaUrl: Twilio points at its copy; we at theirs
            location = media.url or ""
        else:
            location = f"{self.base_url()}/_sim/cdn/{media.cdn_token}"
        return Response(307, b"", "text/plain", [("location", location)])

    # -- the simulator's own endpoints --------------------------------------------------------
    async def _control(self, path: str, method: str, body: bytes) -> Response:
        if path.startswith("/_sim/cdn/") and method == "GET":
            media = self.state.cdn.get(path.removeprefix("/_sim/cdn/"))
            if media is None or media.data is None:
                return Response(404, b"Not Found", "text/plain")
            return Response(200, media.data, media.content_type)
        if path == "/_sim/text" and method == "POST" and self.on_text is not None:
            try:
                request = json.loads(body or b"{}")
                result = await self.on_text(request)
            except (ValueError, LookupError, KeyError, TypeError) as exc:
                return Response.json(400, {"error": str(exc)})
            return Response.json(200, result)
        if path == "/_sim/reissue-number-sid" and method == "POST":
            try:
                number = reissue_number_sid(self.state, str(json.loads(body or b"{}")["phone"]))
            except (ValueError, LookupError, TypeError) as exc:
                return Response.json(400, {"error": str(exc)})
            return Response.json(200, number_json(number))
        if path == "/_sim/state" and method == "GET":
            return Response.json(200, self._snapshot())
        return Response.json(404, {"error": f"no simulator endpoint {method} {path}"})

    def _snapshot(self) -> dict[str, Any]:
        state = self.state
        return {
            "accounts": [account_json(a) for a in state.accounts.values()],
            "numbers": [number_json(n) for n in state.numbers.values()],
            "messages": [message_json(m) for m in reversed(state.messages.values())],
            "opt_outs": sorted([list(pair) for pair in state.opt_outs]),
        }


def _filter_date(messages: list[Message], value: str, op: str) -> list[Message]:
    """DateSent filters; a message not yet sent is matched by its creation date."""
    low, whole_day = _parse_date(value, end_of_day=False)
    high, _ = _parse_date(value, end_of_day=True)

    def when(message: Message) -> datetime:
        return message.date_sent or message.date_created

    if op == "<":
        return [m for m in messages if when(m) <= high]
    if op == ">":
        return [m for m in messages if when(m) >= low]
    if whole_day:
        return [m for m in messages if low <= when(m) <= high]
    return [m for m in messages if when(m) == low]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] != "http.request":
            break
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise ApiError(20001, "Request too large", 413)
        chunks.append(chunk)
        if not event.get("more_body", False):
            break
    return b"".join(chunks)
