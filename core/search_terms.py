"""What an agent typed into the search box, read every way it can mean something.

"Jordan" may be a name, a tag or a word in a message; "5125550133" and
"+1 512-555-0133" are the same phone; "#123" is a ticket number. The store asks
each reading once and the search box says which of them matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

#: Where a national number without a country code is read (the desk's numbers are US/CA).
DEFAULT_REGION = "US"

_TICKET_NUMBER = re.compile(r"^#\s*(\d{1,18})$")
_PHONE_CHARS = re.compile(r"^[+\d\s().\-]{7,}$")


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """The readings of one search text; None where the text cannot mean that."""

    text: str
    ticket_id: int | None
    phone: str | None  # E.164
    email: str | None  # lower-cased
    words: str  # for names and tags: the text as typed, trimmed


def read_search_text(text: str) -> SearchTerms:
    """Every meaning ``text`` can have in a search: ticket number, phone, email, words."""
    stripped = text.strip()
    return SearchTerms(
        text=text,
        ticket_id=ticket_number(stripped),
        phone=phone_in_e164(stripped),
        email=stripped.lower() if "@" in stripped and " " not in stripped else None,
        words=stripped,
    )


def ticket_number(text: str) -> int | None:
    """``#123`` as 123; anything else is not a ticket number."""
    match = _TICKET_NUMBER.match(text.strip())
    return int(match.group(1)) if match else None


def phone_in_e164(text: str) -> str | None:
    """A phone number in any common format as E.164, or None when it is not one."""
    if not _PHONE_CHARS.match(text) or sum(ch.isdigit() for ch in text) < 7:
        return None
    try:
        parsed = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
