"""Reading a phone number an agent typed, in any format, as the E.164 Twilio needs.

Pure: ``phonenumbers`` only. A number written without its country code is read in the
sending number's country, as a person in that country would dial it.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from core.country_names import COUNTRY_NAMES
from core.models import PhoneNumber


class NotAPhoneNumber(ValueError):
    """What the agent typed is not a number anyone can text; the message says why."""


@dataclass(frozen=True, slots=True)
class Understood:
    """A typed number as the desk understood it."""

    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "GB"

    @property
    def country(self) -> str:
        return COUNTRY_NAMES.get(self.region, self.region)


def understood(typed: str, default_region: str = "US") -> Understood:
    """The E.164 number ``typed`` means, dialled from ``default_region``; or NotAPhoneNumber."""
    text = typed.strip()
    if not text:
        raise NotAPhoneNumber("type the customer's number")
    if text.startswith("00"):
        text = "+" + text[2:]  # the international prefix most of the world dials
    try:
        parsed = phonenumbers.parse(text, (default_region or "US").upper())
    except NumberParseException:
        raise NotAPhoneNumber(f"{typed.strip()!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise NotAPhoneNumber(f"{typed.strip()!r} is not a valid phone number"
                              f" (read in {default_region or 'US'})")
    return Understood(e164=phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
                      region=phonenumbers.region_code_for_number(parsed) or "")


def country_of_number(number: PhoneNumber) -> str:
    """The country a business number dials from: as recorded, else read from the number."""
    if number.country:
        return number.country.upper()
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number.e164, None)) or ""
    except NumberParseException:
        return ""  # an Alphanumeric Sender ID
