"""Twilio's webhooks, decoded and checked without any I/O.

The ASGI layer hands over the path, the signature header and the raw body;
these functions say whether the request is genuine and what it means. Twilio
signs the URL it called, which behind a tunnel or reverse proxy is the public
URL, not what our Host header says, so the URL is rebuilt from configuration.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from twilio.request_validator import RequestValidator

from core.models import Media, MessageStatus
from core.writes import InboundText

MAX_BODY_BYTES = 64 * 1024
# The documented ranges of what Twilio sends (twilio_api_v2010.json and Twilio's
# messaging docs): anything outside them is not Twilio's, and answered 400 rather
# than reaching SQLite (whose integers stop at 2**63) or an agent's screen.
MAX_MEDIA_ITEMS = 10
MAX_SEGMENTS = 255  # a concatenated SMS has at most 255 parts (its UDH counts in one byte)
MAX_TEXT_CHARS = 1600  # "the body of the message, up to 1600 characters"
ERROR_CODES = range(0, 100_000)  # Twilio's error catalog: five digits at most
MAX_MEDIA_URL_CHARS = 2048
MAX_INTEGER_CHARS = 6  # no field Twilio counts with has more digits; int() of a huge one is slow

_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")
_DIGITS = re.compile(r"^[0-9]+$")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # RFC 6838's restricted-name
_CONTENT_TYPE = re.compile(rf"^{_TOKEN}/{_TOKEN}$")


class Malformed(ValueError):
    """A webhook that cannot be Twilio's: answered 400, nothing stored."""


def parse_form(body: bytes) -> dict[str, str]:
    """Twilio posts application/x-www-form-urlencoded, one value per name.

    Reads exactly what ``parse_qsl(..., keep_blank_values=True,
    strict_parsing=True)`` reads (a test holds the two together), but decodes
    only the fields that need it: most of a webhook's twenty fields are plain
    SIDs and numbers, and ``parse_qsl`` was a tenth of the relay's time.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not a form") from None
    params: dict[str, str] = {}
    if not text:
        return params
    for field in text.split("&"):
        name, equals, value = field.partition("=")
        if not equals:
            raise Malformed("the body is not a form")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if name in params:
            raise Malformed(f"{name} appears twice")
        params[name] = value
    return params


def account_sid_of(params: dict[str, str]) -> str:
    sid = params.get("AccountSid", "")
    if not _ACCOUNT_SID.match(sid):
        raise Malformed("AccountSid is missing or malformed")
    return sid


def signature_is_valid(
    *, public_url: str, path: str, query: str, params: dict[str, str], signature: str,
    auth_token: str,
) -> bool:
    if not signature or not signature.isascii():
        # A signature is base64: anything else cannot match, and compare_digest
        # refuses (TypeError) to compare non-ASCII text.
        return False
    url = public_url.rstrip("/") + path + (f"?{query}" if query else "")
    validator = RequestValidator(auth_token)
    # Twilio signs the URL exactly as it called it, which is the public URL we
    # configured: one HMAC settles the usual case. ``validate`` also tries the
    # URL with and without an explicit port, at twice the cost, for the rest.
    expected = validator.compute_signature(url, params)
    return hmac.compare_digest(expected, signature) or validator.validate(url, params, signature)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media item Twilio says a customer sent, not yet downloaded."""

    url: str
    content_type: str


def inbound_from(params: dict[str, str]) -> tuple[InboundText, list[MediaRef]]:
    """The customer's text in an inbound webhook, and the media to fetch for it."""
    sid = params.get("MessageSid", "")
    if not _SID.match(sid):
        raise Malformed("MessageSid is missing or malformed")
    to, from_ = params.get("To", ""), params.get("From", "")
    if not (_E164.match(to) or _SHORT_CODE.match(to)):
        raise Malformed("To must be an E.164 phone number or a short code")
    if not _E164.match(from_):
        raise Malformed("From must be an E.164 phone number")
    count = _count(params, "NumMedia", range(0, MAX_MEDIA_ITEMS + 1)) or 0
    # Twilio says 0 while a Messaging Service has not picked a sender: one part.
    segments = _count(params, "NumSegments", range(0, MAX_SEGMENTS + 1)) or 1
    body = params.get("Body", "")
    if len(body) > MAX_TEXT_CHARS:
        raise Malformed(f"Body is longer than Twilio's {MAX_TEXT_CHARS} characters")
    refs = [_media_ref(params, i) for i in range(count)]
    text = InboundText(sid=sid, to=to, from_=from_, body=body, segments=max(segments, 1))
    return text, refs


def _count(params: dict[str, str], name: str, allowed: range) -> int | None:
    """A whole number Twilio sent, within its documented range; None if absent or empty."""
    given = params.get(name, "")
    if not given:
        return None
    if len(given) > MAX_INTEGER_CHARS or not _DIGITS.match(given) or int(given) not in allowed:
        raise Malformed(f"{name} must be a whole number from {allowed.start} to {allowed.stop - 1}")
    return int(given)


def _media_ref(params: dict[str, str], index: int) -> MediaRef:
    url = params.get(f"MediaUrl{index}", "")
    kind = params.get(f"MediaContentType{index}", "")
    if not url or not kind:
        raise Malformed(f"MediaUrl{index} or MediaContentType{index} is missing")
    if len(url) > MAX_MEDIA_URL_CHARS or not url.isascii() or not url.startswith(
            ("https://", "http://")):
        raise Malformed(f"MediaUrl{index} is not a URL")
    if not _CONTENT_TYPE.match(kind):
        raise Malformed(f"MediaContentType{index} is not a media type")
    return MediaRef(url=url, content_type=kind.lower())


def with_media(text: InboundText, media: tuple[Media, ...]) -> InboundText:
    return InboundText(sid=text.sid, to=text.to, from_=text.from_, body=text.body,
                       media=media, segments=text.segments)


@dataclass(frozen=True, slots=True)
class StatusReport:
    sid: str
    status: MessageStatus
    error_code: int | None


def status_from(params: dict[str, str]) -> StatusReport:
    sid = params.get("MessageSid", "")
    if not _SID.match(sid):
        raise Malformed("MessageSid is missing or malformed")
    try:
        status = MessageStatus(params.get("MessageStatus", ""))
    except ValueError:
        raise Malformed("MessageStatus is missing or unknown") from None
    return StatusReport(sid=sid, status=status,
                        error_code=_count(params, "ErrorCode", ERROR_CODES))


EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
