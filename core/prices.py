"""A number's segment price as the admin types it: a decimal string kept as typed.

Kept as text (not a float) so "0.0079" stays exactly that and the reports multiply it
as a Decimal (core.reports); "" or None clears it. The currency is three letters.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_PLACES = 6


def checked_segment_price(typed: object) -> str | None:
    """The price to keep ("0.0079"), None to clear; ValueError says what to type."""
    if typed is None or (isinstance(typed, str) and not typed.strip()):
        return None
    if not isinstance(typed, str | int | float) or isinstance(typed, bool):
        raise ValueError("type the price of one segment, such as 0.0079")
    text = str(typed).strip()
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a price: type one such as 0.0079") from None
    if not price.is_finite():
        raise ValueError(f"{text!r} is not a price: type one such as 0.0079")
    if price < 0:
        raise ValueError("a segment price cannot be negative")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise ValueError(f"a segment price has at most {MAX_PLACES} decimal places")
    return format(price, "f")


def checked_currency(typed: object) -> str:
    """An ISO 4217 code such as USD or EUR (upper-cased); ValueError otherwise."""
    text = typed.strip().upper() if isinstance(typed, str) else ""
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        raise ValueError("the currency is three letters, such as USD or EUR")
    return text
