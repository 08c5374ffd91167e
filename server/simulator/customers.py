"""Simulated customers: who they are, where they text from, and what the demo's say.

``geo_for`` fills the FromCity / FromState / FromZip fields Twilio derives from a US
area code. The pictures and files they send are in content.py (``demo_png`` is
re-exported here, where the demo and tests have always found it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.simulator.content import demo_png, png
from server.simulator.state import country_of

__all__ = [
    "DEMO_CUSTOMERS",
    "DEMO_SCRIPT",
    "Customer",
    "Geo",
    "demo_png",
    "geo_for",
    "play_script",
    "png",
]

# A few NANP area codes, enough for demo realism; Twilio sends "" when it does not know.
_AREA_CODES: dict[str, tuple[str, str, str]] = {
    "212": ("NY", "NEW YORK", "10001"),
    "312": ("IL", "CHICAGO", "60601"),
    "415": ("CA", "SAN FRANCISCO", "94105"),
    "512": ("TX", "AUSTIN", "78701"),
    "617": ("MA", "BOSTON", "02108"),
    "206": ("WA", "SEATTLE", "98101"),
}


@dataclass(frozen=True)
class Geo:
    country: str
    state: str = ""
    city: str = ""
    zip: str = ""


def geo_for(e164: str) -> Geo:
    country = country_of(e164)
    if e164.startswith("+1") and e164[2:5] in _AREA_CODES:
        state, city, zip_code = _AREA_CODES[e164[2:5]]
        return Geo(country, state, city, zip_code)
    return Geo(country)


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str


DEMO_CUSTOMERS = (
    Customer("Maya Patel", "+14155550142"),
    Customer("Tom Hughes", "+447400900123"),
    Customer("Ana Souza", "+12125550187"),
)


# What the demo customers say, in order: (customer index, body, with picture?)
DEMO_SCRIPT: tuple[tuple[int, str, bool], ...] = (
    (0, "Hi, my order #4417 arrived damaged. Can I get a replacement?", False),
    (0, "Here is a photo of the box", True),
    (1, "Hello, what are your opening hours on Saturday?", False),
    (2, "STOP", False),
)


async def play_script(
    sim: Any, to: str, script: tuple[tuple[int, str, bool], ...] = DEMO_SCRIPT
) -> list[Any]:
    """Have the demo customers text ``to`` (a ``Simulator``'s number), one line at a time.

    Returns each ``TextResult`` (sid, HTTP status the relay answered).
    """
    results = []
    for who, body, with_picture in script:
        media = [("image/png", demo_png())] if with_picture else []
        results.append(await sim.text(DEMO_CUSTOMERS[who].phone, to, body, media))
    return results
