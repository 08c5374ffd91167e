"""Send preflight: catch what Twilio or the carriers would refuse, before sending.

A reply that Twilio rejects costs the agent a round trip and, for carrier
blocks such as unregistered 10DLC traffic, can cost the business its sender
reputation. Every limit and restriction in the Freshdesk Twilio SMS guide this
project follows is checked here, so the composer can say what is wrong and how
to fix it while the agent is still typing.

:func:`preflight` returns every refusal that applies, not just the first, so an
agent can fix them all in one pass. It never raises: anything it cannot make
sense of (a malformed destination, an odd content type) becomes a refusal.

Pure: standard library and ``phonenumbers`` only, no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from core.country_names import COUNTRY_NAMES
from core.models import Account, Contact, NumberStatus, PhoneNumber, SenderType
from core.phones import country_of_number
from core.placeholders import refusal_for

__all__ = [
    "ACCEPTED_MEDIA_TYPES",
    "MAX_BODY_CHARS",
    "MAX_MEDIA",
    "MAX_MEDIA_TOTAL_BYTES",
    "Attachment",
    "Field",
    "MediaLike",
    "Preflight",
    "Refusal",
    "is_accepted_media_type",
    "preflight",
]

MAX_BODY_CHARS = 1600
"""Twilio's limit for one message body, in Unicode code points (error 21617)."""

MAX_MEDIA = 10
"""Twilio's limit on attachments per message (error 21623)."""

MAX_MEDIA_TOTAL_BYTES = 5 * 1024 * 1024
"""Twilio's 5 MB limit on the combined size of an MMS message's media."""

ACCEPTED_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        # Images: Twilio resizes JPEG, PNG and GIF for the handset; the rest go as-is.
        "image/jpeg",
        "image/jpg",
        "image/gif",
        "image/png",
        "image/bmp",
        "image/tiff",
        "image/heic",
        "image/heif",
        # Audio
        "audio/basic",
        "audio/l24",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/vorbis",
        "audio/vnd.rn-realaudio",
        "audio/vnd.wave",
        "audio/3gpp",
        "audio/3gpp2",
        "audio/ac3",
        "audio/webm",
        "audio/amr-nb",
        "audio/amr",
        # Video
        "video/mpeg",
        "video/mpeg4",
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/3gpp",
        "video/3gpp2",
        "video/3gpp-tt",
        "video/h261",
        "video/h263",
        "video/h263-1998",
        "video/h263-2000",
        "video/h264",
        # Text
        "text/vcard",
        "text/x-vcard",
        "text/csv",
        "text/rtf",
        "text/richtext",
        "text/calendar",
        "text/directory",
        # Application
        "application/pdf",
        "application/vcard",
        "application/vnd.apple.pkpass",
    }
)
"""Content types Twilio accepts for MMS, lower-cased, from Twilio's "Accepted
content types for media" (https://www.twilio.com/docs/messaging/guides/accepted-mime-types).
Office documents and WebP appear there for WhatsApp only, so MMS refuses them."""


class MediaLike(Protocol):
    """What preflight needs to know about an attachment.

    Both :class:`Attachment` (a file the agent is about to attach) and
    :class:`core.models.Media` (one already stored) fit.
    """

    @property
    def filename(self) -> str: ...

    @property
    def content_type(self) -> str: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file about to be attached to a reply; ``size`` is in bytes."""

    filename: str
    content_type: str
    size: int


class Field(StrEnum):
    """Which part of the reply a refusal is about, so the composer can point at it."""

    BODY = "body"
    ATTACHMENTS = "attachments"
    TO = "to"
    NUMBER = "number"  # the sender: the agent can reply from another number
    CONTACT = "contact"
    ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason the reply cannot be sent as it is.

    ``code`` is the Twilio error the send would fail with, when there is one,
    so the UI can offer :func:`core.errors.explain`; ``reason`` says what is
    wrong and how to fix it in a sentence an agent understands.
    """

    code: int | None
    reason: str
    field: str
    blocking: bool = True  # False: worth saying, but Twilio is the judge (see ``warnings``)


@dataclass(frozen=True, slots=True)
class Preflight:
    """The verdict on a reply: every refusal that applies, in a stable order.

    ``warnings`` are doubts that must not stop the send: e.g. a number the
    phone-number metadata calls invalid although Twilio delivered a text from it.
    """

    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[Refusal, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing stands in the way of sending."""
        return not self.refusals

    @property
    def codes(self) -> tuple[int | None, ...]:
        """The Twilio codes of the refusals, in order (``None`` where there is none)."""
        return tuple(refusal.code for refusal in self.refusals)


def is_accepted_media_type(content_type: str) -> bool:
    """Whether Twilio accepts ``content_type`` for MMS.

    Parameters (``; charset=...``) and letter case do not matter: Twilio
    judges the media type itself.
    """
    return _media_type(content_type) in ACCEPTED_MEDIA_TYPES


def preflight(
    *,
    number: PhoneNumber,
    account: Account,
    contact: Contact,
    to: str,
    body: str,
    attachments: Sequence[MediaLike] = (),
) -> Preflight:
    """Every reason Twilio or the carriers would refuse this reply, before sending it."""
    draft = _Draft(
        number=number,
        account=account,
        contact=contact,
        to=to,
        body=body,
        attachments=tuple(attachments),
        destination=_parse_destination(to, delivered_by_twilio=_came_from_twilio(to, contact)),
    )
    found = [refusal for rule in _RULES for refusal in rule(draft)]
    return Preflight(tuple(r for r in found if r.blocking),
                     tuple(r for r in found if not r.blocking))


# -- the draft every rule reads --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Destination:
    """The customer's number once parsed: where it is and what kind of line it is."""

    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "GB"
    kind: int  # a phonenumbers.PhoneNumberType value, e.g. MOBILE
    valid: bool = True  # False: unknown to the metadata, but Twilio delivered a text from it


@dataclass(frozen=True, slots=True)
class _Draft:
    """The reply under review, with the destination parsed once for every rule."""

    number: PhoneNumber
    account: Account
    contact: Contact
    to: str
    body: str
    attachments: tuple[MediaLike, ...]
    destination: _Destination | None  # None when ``to`` is not a valid number


_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _came_from_twilio(to: str, contact: Contact) -> bool:
    """Whether ``to`` is the contact's own number, which only ever arrives in a Twilio webhook.

    Twilio delivered a text from it, so it exists whatever libphonenumber's metadata says
    (e.g. Ofcom's drama range +44 7700 900xxx): doubts about it are warnings, not refusals.
    """
    return to == contact.phone and _E164.fullmatch(to) is not None


@functools.lru_cache(maxsize=4096)
def _parse_destination(to: str, *, delivered_by_twilio: bool = False) -> _Destination | None:
    """The parsed destination, or None when ``to`` is not a valid international number.

    Remembered (a frozen answer per argument): libphonenumber's parse and number type cost
    hundreds of µs, and the same customers are written to again and again (the SMS bot
    judges each of its texts in the inbound webhook's transaction).

    A number Twilio delivered to us is kept even when the metadata calls it invalid
    (``valid=False``, its country from the calling code), so the country rules still apply.
    """
    try:
        parsed = phonenumbers.parse(to, None)
    except NumberParseException:
        return None
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    if phonenumbers.is_possible_number(parsed) and phonenumbers.is_valid_number(parsed):
        return _Destination(
            e164=e164,
            region=phonenumbers.region_code_for_number(parsed) or "",
            kind=phonenumbers.number_type(parsed),
        )
    if not delivered_by_twilio or e164 != to:
        return None
    return _Destination(
        e164=e164,
        region=phonenumbers.region_code_for_country_code(parsed.country_code) or "",
        kind=PhoneNumberType.UNKNOWN,
        valid=False,
    )


def line_kind(phone: str) -> int | None:
    """What kind of line a customer's ``phone`` is (a ``PhoneNumberType``: UNKNOWN for a
    number Twilio delivered that the metadata does not know), or None when it is no
    international number at all (a short code, a sender name). Shares the destination
    parse the preflight remembers."""
    destination = _parse_destination(phone, delivered_by_twilio=True)
    return None if destination is None else destination.kind


Rule = Callable[[_Draft], Iterable[Refusal]]


# -- the message ------------------------------------------------------------------------


def _message_has_content(draft: _Draft) -> Iterator[Refusal]:
    """Twilio refuses a message with neither text nor media (21602)."""
    if not draft.body.strip() and not draft.attachments:
        yield Refusal(
            21602,
            "There is nothing to send. Type a reply or add an attachment.",
            Field.BODY,
        )


def _body_within_limit(draft: _Draft) -> Iterator[Refusal]:
    """Twilio refuses bodies over 1,600 characters (21617); the customer gets nothing."""
    length = len(draft.body)
    over = length - MAX_BODY_CHARS
    if over > 0:
        yield Refusal(
            21617,
            f"This reply is {length:,} characters, {over:,} over Twilio's limit of "
            f"{MAX_BODY_CHARS:,} per message. Shorten it by {_count(over, 'character')} or "
            "split it into several replies.",
            Field.BODY,
        )


def _placeholders_filled(draft: _Draft) -> Iterator[Refusal]:
    """A canned response's ``{{contact.name}}`` left unfilled must never reach the customer."""
    reason = refusal_for(draft.body)
    if reason is not None:
        yield Refusal(None, reason, Field.BODY)


# -- attachments --------------------------------------------------------------------------


def _number_can_send_media(draft: _Draft) -> Iterator[Refusal]:
    """SMS-only numbers send text only; MMS needs an MMS-enabled number."""
    if draft.attachments and not draft.number.mms:
        yield Refusal(
            None,
            f"{_sender(draft.number)} is SMS-only, so it cannot send attachments: SMS-only "
            f"numbers send text only. Remove {_the(len(draft.attachments), 'attachment')} "
            "or reply from an MMS-enabled number.",
            Field.ATTACHMENTS,
        )


def _media_count_within_limit(draft: _Draft) -> Iterator[Refusal]:
    """Twilio accepts at most 10 media files per message (21623)."""
    count = len(draft.attachments)
    extra = count - MAX_MEDIA
    if extra > 0:
        yield Refusal(
            21623,
            f"This reply has {count} attachments; Twilio sends at most {MAX_MEDIA} per message. "
            f"Remove {extra} or send them in another reply.",
            Field.ATTACHMENTS,
        )


def _media_total_within_limit(draft: _Draft) -> Iterator[Refusal]:
    """Twilio refuses MMS whose media adds up to more than 5 MB."""
    total = sum(attachment.size for attachment in draft.attachments)
    excess = total - MAX_MEDIA_TOTAL_BYTES
    if excess > 0:
        yield Refusal(
            None,
            f"The attachments add up to {_total_size(total)}; Twilio accepts at most "
            f"{_size(MAX_MEDIA_TOTAL_BYTES)} per message. Remove or shrink attachments by "
            f"at least {_size(excess)}, or send a link to large files instead.",
            Field.ATTACHMENTS,
        )


def _media_types_accepted(draft: _Draft) -> Iterator[Refusal]:
    """Twilio rejects media in types it does not accept for MMS; name each such file."""
    for attachment in draft.attachments:
        if not is_accepted_media_type(attachment.content_type):
            yield Refusal(
                None,
                f"{_file(attachment)} is {_type_of(attachment)}, which Twilio does not accept "
                "for MMS. Send it as an image (JPEG, PNG or GIF) or a PDF, or send a link "
                "to it instead.",
                Field.ATTACHMENTS,
            )


# -- the destination --------------------------------------------------------------------


def _destination_is_valid(draft: _Draft) -> Iterator[Refusal]:
    """Twilio needs a valid number in E.164 format (21604 when missing, else 21211)."""
    to = draft.to.strip()
    if not to:
        yield Refusal(
            21604,
            "There is no number to send to. Add the contact's phone number in E.164 format, "
            "e.g. +12025550123.",
            Field.TO,
        )
    elif draft.destination is None:
        yield Refusal(
            21211,
            f"{_quoted(to)} is not a valid phone number. Check it and write it in E.164 "
            "format: a plus sign, the country code, then the number, e.g. +12025550123.",
            Field.TO,
        )
    elif not draft.destination.valid:
        yield Refusal(
            21211,
            f"{_quoted(to)} is not in a range the phone-number metadata knows, but Twilio "
            "delivered a text from it, so the reply is sent and Twilio decides (it answers "
            "21211 if it disagrees).",
            Field.TO,
            blocking=False,
        )
    elif to != draft.destination.e164:
        yield Refusal(
            21211,
            f"{_quoted(to)} is not in E.164 format. Write it as {draft.destination.e164}.",
            Field.TO,
        )


def _no_international_long_code_to_uk_mobile(draft: _Draft) -> Iterator[Refusal]:
    """UK networks block international long codes to UK mobiles (since 1 June 2023)."""
    number, destination = draft.number, draft.destination
    if (
        destination is not None
        and _is_uk_mobile(destination)
        and number.sender_type is SenderType.LONG_CODE
        and _sender_country(number) not in ("", "GB")
    ):
        yield Refusal(
            None,
            "UK networks have blocked messages from international long codes to UK mobile "
            f"numbers since 1 June 2023, and {_sender(number)} is a {_sender_country(number)} "
            f"long code, so it cannot text {destination.e164}. Reply from a UK long code, an "
            "Alphanumeric Sender ID or a short code.",
            Field.NUMBER,
        )


def _us_long_code_registered(draft: _Draft) -> Iterator[Refusal]:
    """US carriers block unregistered US long codes to US numbers (30034).

    Toll-free numbers and short codes do not need A2P 10DLC registration.
    """
    number, destination = draft.number, draft.destination
    if (
        destination is not None
        and destination.region == "US"
        and number.sender_type is SenderType.LONG_CODE
        and _sender_country(number) == "US"
        and not number.a2p_registered
    ):
        yield Refusal(
            30034,
            f"{_sender(number)} is a US long code that is not registered for A2P 10DLC, so US "
            "carriers block its messages to US numbers. An admin must register it for A2P "
            "10DLC in the Twilio console; meanwhile reply from a toll-free number, which "
            "needs no 10DLC registration.",
            Field.NUMBER,
        )


def _alphanumeric_not_to_north_america(draft: _Draft) -> Iterator[Refusal]:
    """Alphanumeric Sender IDs cannot send to US or Canadian numbers (21612)."""
    number, destination = draft.number, draft.destination
    if (
        destination is not None
        and destination.region in ("US", "CA")
        and number.sender_type is SenderType.ALPHANUMERIC
    ):
        yield Refusal(
            21612,
            f"{_sender(number)} is an Alphanumeric Sender ID, and those cannot send to "
            f"numbers in {_country(destination.region)}. Reply from a phone number "
            "(long code, toll-free number or short code) instead.",
            Field.NUMBER,
        )


def _country_permitted(draft: _Draft) -> Iterator[Refusal]:
    """Twilio refuses countries missing from the account's geo permissions (21408).

    An empty tuple means the permissions were never fetched, so nothing is assumed.
    """
    destination, permitted = draft.destination, draft.account.geo_permissions
    if destination is None or not permitted:
        return
    if destination.region not in {region.upper() for region in permitted}:
        yield Refusal(
            21408,
            "The Twilio account's geo permissions do not include "
            f"{_country(destination.region)}, so Twilio will refuse this message. An admin "
            "must enable the country in Twilio console > Messaging > Settings > "
            "Geo permissions.",
            Field.TO,
        )


def _trial_destination_verified(draft: _Draft) -> Iterator[Refusal]:
    """A Trial account texts only its verified caller IDs (21608).

    An empty list means they were never fetched, so nothing is assumed.
    """
    account, destination = draft.account, draft.destination
    if not account.is_trial or destination is None or not account.verified_caller_ids:
        return
    if destination.e164 not in account.verified_caller_ids:
        yield Refusal(
            21608,
            f"The Twilio account {_quoted(account.name)} is a Trial account, which can only "
            f"text numbers verified in Twilio, and {destination.e164} is not one of them, so "
            "Twilio will refuse this message. An admin can verify the number in Twilio "
            "console > Phone Numbers > Verified Caller IDs, or upgrade the account.",
            Field.TO,
        )


# -- the people and the plumbing -----------------------------------------------------------


def _contact_opted_in(draft: _Draft) -> Iterator[Refusal]:
    """Twilio will not deliver to a customer who replied STOP (21610)."""
    contact = draft.contact
    if contact.opted_out:
        yield Refusal(
            21610,
            f"{contact.name or contact.phone or 'This contact'} replied STOP and has opted out "
            f"of texts, so Twilio will not deliver this. They must text START to "
            f"{draft.number.e164} to opt back in; until then, reach them another way.",
            Field.CONTACT,
        )


def _number_usable(draft: _Draft) -> Iterator[Refusal]:
    """A disabled or inactive number cannot send until an admin enables it."""
    number = draft.number
    problems = [
        problem
        for problem, applies in (
            ("disabled in smsdesk", not number.enabled),
            ("not active in Twilio", number.status is not NumberStatus.ACTIVE),
        )
        if applies
    ]
    if problems:
        yield Refusal(
            None,
            f"{_sender(number)} is {' and '.join(problems)}, so it cannot send. An admin must "
            "enable it (its status must be Active), or reply from another number.",
            Field.NUMBER,
        )


def _account_connected(draft: _Draft) -> Iterator[Refusal]:
    """smsdesk cannot send through a Twilio account it is not connected to."""
    account = draft.account
    if not account.connected:
        yield Refusal(
            None,
            f"The Twilio account {_quoted(account.name)} is not connected, so smsdesk cannot "
            "send through it. An admin must reconnect it with the Account SID and auth token "
            "from Twilio console > Account > Keys & Credentials.",
            Field.ACCOUNT,
        )


def _account_active(draft: _Draft) -> Iterator[Refusal]:
    """Twilio sends nothing from a suspended or closed account (10001)."""
    account = draft.account
    if account.status.lower() != "active":
        yield Refusal(
            10001,
            f"The Twilio account {_quoted(account.name)} is {account.status}, so Twilio will "
            "not send. An admin must check its balance and billing in the Twilio console or "
            "contact Twilio support.",
            Field.ACCOUNT,
        )


_RULES: tuple[Rule, ...] = (
    _message_has_content,
    _body_within_limit,
    _placeholders_filled,
    _number_can_send_media,
    _media_count_within_limit,
    _media_total_within_limit,
    _media_types_accepted,
    _destination_is_valid,
    _no_international_long_code_to_uk_mobile,
    _us_long_code_registered,
    _alphanumeric_not_to_north_america,
    _country_permitted,
    _trial_destination_verified,
    _contact_opted_in,
    _number_usable,
    _account_connected,
    _account_active,
)


# -- small words ---------------------------------------------------------------------------

_UK_MOBILE_KINDS = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _is_uk_mobile(destination: _Destination) -> bool:
    return destination.region == "GB" and destination.kind in _UK_MOBILE_KINDS


def _sender_country(number: PhoneNumber) -> str:
    """The sending number's country: as recorded, else read from the number itself."""
    return country_of_number(number)


def _country(region: str) -> str:
    """'United Kingdom (GB)': a country agents recognise, with the code admins search for."""
    name = COUNTRY_NAMES.get(region, "")
    return f"{name} ({region})" if name else region


def _sender(number: PhoneNumber) -> str:
    """How agents know a number: its friendly name, if any, and the number itself."""
    if number.friendly_name and number.friendly_name != number.e164:
        return f"{number.e164} ({number.friendly_name})"
    return number.e164 or "This number"


def _media_type(content_type: str) -> str:
    """'image/JPEG; charset=x' -> 'image/jpeg'."""
    return content_type.split(";", 1)[0].strip().lower()


def _file(attachment: MediaLike) -> str:
    return _quoted(attachment.filename) if attachment.filename else "An attachment"


def _type_of(attachment: MediaLike) -> str:
    media_type = _media_type(attachment.content_type)
    return f"of type {media_type}" if media_type else "of no stated type"


def _count(n: int, noun: str) -> str:
    """'1 character', '2 characters'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _the(n: int, noun: str) -> str:
    """'the attachment', 'the 2 attachments'."""
    return f"the {noun}" if n == 1 else f"the {_count(n, noun)}"


def _size(n_bytes: int) -> str:
    """Sizes the way Twilio states its limit: 5 MB means 5 x 1024 x 1024 bytes."""
    if n_bytes < 1024:
        return _count(n_bytes, "byte")
    if n_bytes < 1024 * 1024:
        return f"{n_bytes / 1024:.1f} KB"
    return f"{n_bytes / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def _total_size(n_bytes: int) -> str:
    """A total over the limit that must not read as equal to it once rounded."""
    shown, limit = _size(n_bytes), _size(MAX_MEDIA_TOTAL_BYTES)
    return f"just over {limit}" if shown == limit else shown


_MAX_QUOTED = 40


def _quoted(text: str) -> str:
    """Quote user-supplied text, cut short so a pasted essay cannot flood the message."""
    if len(text) > _MAX_QUOTED:
        text = text[: _MAX_QUOTED - 1] + "…"
    return f"'{text}'"
