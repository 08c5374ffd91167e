"""Simulated customers: where they text from, and the pictures they send.

``demo_png`` draws a real PNG in pure Python (struct + zlib), so the demo's
MMS carries an image any viewer can open.  ``geo_for`` fills the FromCity /
FromState / FromZip fields Twilio derives from a US area code.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

from server.simulator.state import country_of

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


def png(width: int, height: int, pixel: object = None) -> bytes:
    """A valid RGB PNG.  ``pixel(x, y) -> (r, g, b)``; default is a diagonal gradient."""

    def default(x: int, y: int) -> tuple[int, int, int]:
        return (40 + 200 * x // max(1, width - 1), 90, 40 + 200 * y // max(1, height - 1))

    paint = pixel if callable(pixel) else default
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: None
        for x in range(width):
            rows.extend(bytes(paint(x, y)))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def demo_png() -> bytes:
    """A 64x48 picture of a 'damaged parcel' (a brown box on a gradient) for the demo MMS."""

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        if 16 <= x < 48 and 12 <= y < 40:
            if x == y + 8 or x == 60 - y:  # the crack
                return (30, 20, 10)
            return (150, 100, 50)
        return (200 - y * 2, 220 - x, 240)

    return png(64, 48, pixel)


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
