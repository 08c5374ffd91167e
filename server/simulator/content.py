"""What simulated customers can send: one sample of every content type in the channel's table.

The feature source's message-type table (text, image, video, audio, file, emoji, GIF)
becomes ``SAMPLES``: each a body and real files in a MIME type Twilio accepts for MMS
(core.preflight.ACCEPTED_MEDIA_TYPES), small enough for a test yet valid, so that a
viewer opens them and a type sniffer agrees with the declared Content-Type:

* ``jpeg``/``png``: pictures (the JPEG made once with Pillow and kept here as bytes);
* ``gif``: a two-frame animated GIF89a that loops (built here: LZW, NETSCAPE2.0 block);
* ``mp4``: an ISO BMFF file (ftyp + moov/mvhd), a zero-length movie;
* ``mp3``: MPEG-1 Layer III frames of silence; ``ogg``: an Ogg Opus stream of silence;
* ``pdf``: a one-page PDF 1.4 with a correct xref table; ``vcard``: a vCard 3.0.

Pure: standard library only, no I/O, light to import (``smsdesk sim text --kind``).
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

__all__ = ["KINDS", "SAMPLES", "TABLE", "Sample", "demo_png", "png", "sample"]


@dataclass(frozen=True)
class Sample:
    """A customer's text of one content type: what they type and the files they attach."""

    kind: str  # "jpeg", "gif", ...: the name tests, the CLI and /_sim/text use
    row: str  # its row in the channel's table: "Image", "GIF", ...
    body: str
    media: tuple[tuple[str, bytes], ...] = ()  # (Content-Type, bytes)
    filename: str = ""  # what the customer's phone would call the file


# -- pictures ----------------------------------------------------------------------------

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



_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0"
    "KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7"
    "Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAMABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAEC"
    "AwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2Jy"
    "ggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWW"
    "l5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEA"
    "AwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMi"
    "MoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0"
    "dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn"
    "6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDPto+la9tH0qjbKOK17ZRxXfXyyA8rm9D/2Q=="
)
"""A 16x12 colour gradient, baseline JPEG (Pillow, quality 70)."""


def _lzw(pixels: bytes, min_code_size: int) -> bytes:
    """GIF's LZW data for ``pixels`` (palette indices), kept to literal codes.

    A clear code before every two pixels keeps the decoder's table from growing, so every
    code has ``min_code_size + 1`` bits: larger than real compression, but any decoder reads
    it, and a sample of a few hundred pixels stays a few hundred bytes.
    """
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width = min_code_size + 1
    codes: list[int] = []
    for start in range(0, len(pixels), 2):
        codes.append(clear)
        codes.extend(pixels[start : start + 2])
    codes.append(end)
    bits, count, out = 0, 0, bytearray()
    for code in codes:
        bits |= code << count
        count += width
        while count >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            count -= 8
    if count:
        out.append(bits & 0xFF)
    return bytes(out)


def _sub_blocks(data: bytes) -> bytes:
    """GIF data sub-blocks: runs of at most 255 bytes, each with its length, then a 0."""
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255]
                      for i in range(0, len(data), 255))
    return blocks + b"\x00"


def animated_gif(width: int = 12, height: int = 8) -> bytes:
    """A looping two-frame GIF89a: a red square on white, then a blue one (half a second each).

    The first frame is the one an inbox shows still; tests can tell it from the second by
    colour.
    """
    palette = bytes([255, 255, 255, 220, 40, 40, 40, 70, 220, 0, 0, 0])  # white red blue black

    def frame(colour: int) -> bytes:
        pixels = bytes(colour if width // 4 <= x < 3 * width // 4 and height // 4 <= y
                       < 3 * height // 4 else 0 for y in range(height) for x in range(width))
        control = b"\x21\xf9\x04\x04" + struct.pack("<H", 50) + b"\x00\x00"  # keep, 0.5 s
        descriptor = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00"
        return control + descriptor + b"\x02" + _sub_blocks(_lzw(pixels, 2))

    header = b"GIF89a" + struct.pack("<HH", width, height) + b"\x91\x00\x00" + palette
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    return header + loop + frame(1) + frame(2) + b"\x3b"


# -- video and audio -------------------------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4() -> bytes:
    """An ISO base media file: ``ftyp`` (isom) and a ``moov`` whose ``mvhd`` says 0 s long."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd = _box(b"mvhd", struct.pack(">IIIII", 0, 0, 0, 1000, 0)  # version+flags, times, scale
                + struct.pack(">IH", 0x00010000, 0x0100) + b"\x00" * 10  # rate, volume
                + matrix + b"\x00" * 24 + struct.pack(">I", 1))  # pre_defined, next track
    return ftyp + _box(b"moov", mvhd)


def mp3(frames: int = 4) -> bytes:
    """MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono: ``frames`` frames of silence (26 ms each).

    All-zero side information means no Huffman data: a decoder plays silence.
    """
    header = bytes([0xFF, 0xFB, 0x90, 0xC0])
    length = 144 * 128_000 // 44_100  # 417 bytes, no padding
    return (header + b"\x00" * (length - len(header))) * frames


def _ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], *, flags: int, granule: int, sequence: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing.extend([255] * (len(packet) // 255) + [len(packet) % 255])
    head = (b"OggS\x00" + bytes([flags]) + struct.pack("<qIII", granule, 0x5E5E, sequence, 0)
            + bytes([len(lacing)]) + bytes(lacing))
    page = head + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(packets: int = 5) -> bytes:
    """An Ogg Opus stream (RFC 7845): its two header pages and ``packets`` 20 ms silent frames."""
    pre_skip = 312
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48_000, 0, 0)
    vendor = b"smsdesk simulator"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    silence = b"\xf8\xff\xfe"  # CELT-only, fullband, 20 ms, one frame of silence
    return (_ogg_page([head], flags=0x02, granule=0, sequence=0)
            + _ogg_page([tags], flags=0x00, granule=0, sequence=1)
            + _ogg_page([silence] * packets, flags=0x04, granule=pre_skip + 960 * packets,
                        sequence=2))


# -- files ------------------------------------------------------------------------------


def pdf(text: str = "Invoice 4417") -> bytes:
    """A one-page PDF 1.4 showing ``text`` (ASCII), with the byte offsets its xref needs."""
    stream = f"BT /F1 18 Tf 40 60 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 120] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def vcard(name: str = "Maya Patel", phone: str = "+14155550142") -> bytes:
    """A vCard 3.0 (RFC 2426) contact card, CRLF line ends as the RFC wants."""
    given, _, family = name.rpartition(" ")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"N:{family};{given};;;", f"FN:{name}",
             f"TEL;TYPE=CELL:{phone}", "END:VCARD"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# -- the table --------------------------------------------------------------------------

SAMPLES: dict[str, Sample] = {
    sample.kind: sample
    for sample in (
        Sample("text", "Text", "Hi, is my order on its way?"),
        Sample("jpeg", "Image", "Photo of the label", (("image/jpeg", _JPEG),), "label.jpg"),
        Sample("png", "Image", "Here is a photo of the box", (("image/png", demo_png()),),
               "box.png"),
        Sample("mp4", "Video", "Video of the noise it makes", (("video/mp4", mp4()),),
               "noise.mp4"),
        Sample("mp3", "Audio", "Voice memo", (("audio/mpeg", mp3()),), "memo.mp3"),
        Sample("ogg", "Audio", "", (("audio/ogg", ogg_opus()),), "voice.ogg"),
        Sample("pdf", "File", "My invoice", (("application/pdf", pdf()),), "invoice.pdf"),
        Sample("vcard", "File", "My partner's number", (("text/vcard", vcard()),),
               "contact.vcf"),
        Sample("emoji", "Emoji", "Thank you so much 🙏😊🎉"),
        Sample("gif", "GIF", "lol", (("image/gif", animated_gif()),), "reaction.gif"),
    )
}
"""Every content type a simulated customer can send, by kind."""

KINDS: tuple[str, ...] = tuple(SAMPLES)

TABLE: dict[str, tuple[str, ...]] = {}
"""The table's rows ("Image") and the kinds that stand for each ("jpeg", "png")."""
for _sample in SAMPLES.values():
    TABLE[_sample.row] = (*TABLE.get(_sample.row, ()), _sample.kind)
del _sample


def sample(kind: str) -> Sample:
    """The sample of ``kind``, or a LookupError naming the kinds there are."""
    try:
        return SAMPLES[kind]
    except KeyError:
        raise LookupError(f"no content kind {kind!r}; there are: {', '.join(KINDS)}") from None
