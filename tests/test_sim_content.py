"""The simulator's content types: customers send every row of the channel's table, and an
outbound MMS is fetched and judged as Twilio does (11200, 12300, 11751, 21623, 21606)."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from PIL import Image
from test_simulator import Receiver, SimHttpClient
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from core.preflight import MAX_MEDIA_TOTAL_BYTES, is_accepted_media_type
from server.simulator import Simulator, seed_demo
from server.simulator.cli import register
from server.simulator.content import KINDS, SAMPLES, TABLE, _ogg_crc, sample
from server.simulator.runner import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, DEMO_UK, DEMO_US

CUSTOMER = "+14155550142"
MAGIC = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/gif": b"GIF89a",
    "application/pdf": b"%PDF-1.4",
    "audio/ogg": b"OggS",
    "audio/mpeg": b"\xff\xfb",
    "text/vcard": b"BEGIN:VCARD\r\n",
    "video/mp4": b"\x00\x00\x00\x1cftypisom",  # 28 bytes: major brand, version, 3 brands
}


# -- the samples themselves ---------------------------------------------------------------
def test_the_table_has_every_row_of_the_channel() -> None:
    assert set(TABLE) == {"Text", "Image", "Video", "Audio", "File", "Emoji", "GIF"}
    assert TABLE["Image"] == ("jpeg", "png") and TABLE["Audio"] == ("mp3", "ogg")
    assert tuple(SAMPLES) == KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_each_sample_is_a_file_of_the_type_it_declares(kind: str) -> None:
    chosen = sample(kind)
    assert chosen.body or chosen.media
    for content_type, data in chosen.media:
        assert is_accepted_media_type(content_type), content_type
        assert data.startswith(MAGIC[content_type]), (kind, data[:12])


def test_the_mp4_is_boxes_that_add_up() -> None:
    data = sample("mp4").media[0][1]
    boxes, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8])
        assert size >= 8
        at += size
    assert at == len(data) and boxes == [b"ftyp", b"moov"]
    moov = data.index(b"moov")
    assert data[moov + 4 : moov + 12] == (108).to_bytes(4, "big") + b"mvhd"


def test_pictures_open_and_the_gif_is_animated() -> None:
    for kind in ("jpeg", "png"):
        with Image.open(io.BytesIO(sample(kind).media[0][1])) as picture:
            picture.load()
            assert picture.size[0] > 0
    with Image.open(io.BytesIO(sample("gif").media[0][1])) as gif:
        assert gif.is_animated and gif.n_frames == 2
        first = gif.convert("RGB").getpixel((gif.width // 2, gif.height // 2))
        gif.seek(1)
        second = gif.convert("RGB").getpixel((gif.width // 2, gif.height // 2))
    assert first == (220, 40, 40) and second == (40, 70, 220)


def test_the_pdf_xref_points_at_each_object() -> None:
    data = sample("pdf").media[0][1]
    start = int(re.search(rb"startxref\n(\d+)", data)[1])  # type: ignore[index]
    assert data[start:].startswith(b"xref\n")
    offsets = [int(n) for n in re.findall(rb"(\d{10}) 00000 n", data)]
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_the_ogg_checksum_is_oggs_crc() -> None:
    assert _ogg_crc(b"123456789") == 0x89A1897F  # CRC-32, poly 04C11DB7, init 0, no xor
    data = sample("ogg").media[0][1]
    assert data.count(b"OggS") == 3 and b"OpusHead" in data and b"OpusTags" in data
    page = data[: data.index(b"OggS", 4)]
    blank = page[:22] + b"\x00" * 4 + page[26:]
    assert int.from_bytes(page[22:26], "little") == _ogg_crc(blank)


def test_emoji_is_text_only_and_not_gsm() -> None:
    chosen = sample("emoji")
    assert not chosen.media and any(ord(c) > 0xFFFF for c in chosen.body)


def test_an_unknown_kind_names_those_there_are() -> None:
    with pytest.raises(LookupError, match="gif"):
        sample("sticker")


# -- through HTTP ------------------------------------------------------------------------------
class _Files(BaseHTTPRequestHandler):
    """A public web server for MediaUrls: path -> (status, content type, bytes)."""

    files: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        status, kind, data = self.files.get(self.path, (404, "text/plain", b"no such file"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def files() -> Iterator[tuple[str, dict[str, tuple[int, str, bytes]]]]:
    served: dict[str, tuple[int, str, bytes]] = {}
    handler = type("Files", (_Files,), {"files": served})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Simulator, Receiver]]:
    sim = Simulator(webhook_timeout=3)
    relay = Receiver()
    await asyncio.gather(relay.start(), sim.start(host="127.0.0.1", port=0))
    sim.state.knobs.delivery_delay = 0.005
    seed_demo(sim, sms_url=relay.url + "/twilio/inbound")
    yield sim, relay
    await asyncio.gather(sim.stop(), relay.stop())


def _client(sim: Simulator) -> Client:
    return Client(DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, http_client=SimHttpClient(sim.url))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_customer_sends_each_kind_with_twilios_fields(
        servers: tuple[Simulator, Receiver], kind: str) -> None:
    sim, relay = servers
    chosen = sample(kind)
    result = await sim.text_sample(CUSTOMER, DEMO_US, kind)
    assert result.status == 200
    params = relay.on("/twilio/inbound")[0].params
    assert params["Body"] == chosen.body
    assert params["NumMedia"] == str(len(chosen.media))
    assert result.sid.startswith("MM" if chosen.media else "SM")
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    for index, (content_type, data) in enumerate(chosen.media):
        assert params[f"MediaContentType{index}"] == content_type
        url = params[f"MediaUrl{index}"]
        assert (await asyncio.to_thread(requests.get, url)).status_code == 401
        fetched = await asyncio.to_thread(requests.get, url, auth=auth)
        assert fetched.status_code == 200
        assert (fetched.headers["content-type"], fetched.content) == (content_type, data)
    if kind == "emoji":
        assert int(params["NumSegments"]) == 1 and "🙏" in params["Body"]


async def test_the_control_endpoint_sends_a_kind(servers: tuple[Simulator, Receiver]) -> None:
    sim, relay = servers
    answer = await asyncio.to_thread(requests.post, sim.url + "/_sim/text",
                                     json={"from": CUSTOMER, "to": DEMO_US, "kind": "gif"})
    assert answer.status_code == 200 and answer.json()["webhook_status"] == 200
    params = relay.on("/twilio/inbound")[0].params
    assert (params["MediaContentType0"], params["Body"]) == ("image/gif", "lol")
    unknown = await asyncio.to_thread(requests.post, sim.url + "/_sim/text",
                                      json={"from": CUSTOMER, "to": DEMO_US, "kind": "sticker"})
    assert unknown.status_code == 400 and "gif" in unknown.json()["error"]


async def _outbound(sim: Simulator, relay: Receiver, media_url: list[str],
                    from_: str = DEMO_US) -> tuple[Any, list[str], dict[str, str]]:
    """Send an MMS; its final status, the statuses reported, and the last callback's fields."""
    message = await asyncio.to_thread(
        lambda: _client(sim).messages.create(to=CUSTOMER, from_=from_, body="Here you go",
                                             media_url=media_url,
                                             status_callback=relay.url + "/status"))
    assert message.status == "queued"  # accepted at once: the fetch comes after
    await sim.settle()
    hits = relay.on("/status")
    fetched = await asyncio.to_thread(lambda: _client(sim).messages(message.sid).fetch())
    return fetched, [h.params["MessageStatus"] for h in hits], hits[-1].params


async def test_an_outbound_mms_is_fetched_and_kept_with_its_served_type(
        servers: tuple[Simulator, Receiver], files: Any) -> None:
    sim, relay = servers
    base, served = files
    gif = sample("gif").media[0][1]
    pdf = sample("pdf").media[0][1]
    served["/a/reaction"] = (200, "image/gif", gif)  # no suffix: the header decides the type
    served["/a/invoice"] = (200, "application/pdf; name=invoice.pdf", pdf)
    message, statuses, _ = await _outbound(sim, relay,
                                              [base + "/a/reaction", base + "/a/invoice"])
    assert statuses == ["sent", "delivered"] and message.error_code is None
    media = await asyncio.to_thread(lambda: _client(sim).messages(message.sid).media.list())
    assert [m.content_type for m in media] == ["image/gif", "application/pdf"]
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    uri = f"{sim.url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages/{message.sid}/Media/"
    copy = await asyncio.to_thread(requests.get, uri + media[0].sid, auth=auth)
    assert copy.content == gif  # Twilio's own copy, not the sender's URL


@pytest.mark.parametrize(("served", "code"), [
    ((200, "application/zip", b"PK\x03\x04"), 12300),  # not a type Twilio accepts for MMS
    ((200, "text/html", b"<html></html>"), 12300),
    ((404, "text/plain", b"gone"), 11200),
    ((500, "text/plain", b"oops"), 11200),
    ((200, "video/mp4", b"\x00" * (MAX_MEDIA_TOTAL_BYTES + 1)), 11751),
])
async def test_media_twilio_refuses_fails_the_message_with_its_code(
        servers: tuple[Simulator, Receiver], files: Any,
        served: tuple[int, str, bytes], code: int) -> None:
    sim, relay = servers
    base, files_served = files
    files_served["/m"] = served
    message, statuses, last = await _outbound(sim, relay, [base + "/m"])
    assert statuses == ["failed"]  # never sent
    assert (message.status, message.error_code) == ("failed", code)
    assert message.error_message
    assert last["ErrorCode"] == str(code)


async def test_five_mb_in_all_is_the_limit_across_media(
        servers: tuple[Simulator, Receiver], files: Any) -> None:
    sim, relay = servers
    base, served = files
    half = MAX_MEDIA_TOTAL_BYTES // 2
    served["/one"] = (200, "image/png", b"\x89PNG" + b"\x00" * (half - 4))
    served["/two"] = (200, "image/png", b"\x89PNG" + b"\x00" * (half - 4))
    served["/three"] = (200, "image/png", b"\x89PNG\x00")
    message, _, _ = await _outbound(sim, relay, [base + "/one", base + "/two"])
    assert message.status == "delivered"  # exactly 5 MB goes
    relay.hits.clear()
    message, _, _ = await _outbound(sim, relay, [base + "/one", base + "/two", base + "/three"])
    assert (message.status, message.error_code) == ("failed", 11751)


async def test_eleven_media_or_media_from_an_sms_only_number_are_refused_at_once(
        servers: tuple[Simulator, Receiver], files: Any) -> None:
    sim, _ = servers
    base, served = files
    served["/p.png"] = (200, "image/png", sample("png").media[0][1])

    def create(from_: str, count: int) -> TwilioRestException:
        with pytest.raises(TwilioRestException) as caught:
            _client(sim).messages.create(to=CUSTOMER, from_=from_, body="pics",
                                         media_url=[base + "/p.png"] * count)
        return caught.value

    too_many = await asyncio.to_thread(create, DEMO_US, 11)
    assert (too_many.status, too_many.code) == (400, 21623)
    sms_only = await asyncio.to_thread(create, DEMO_UK, 1)
    assert (sms_only.status, sms_only.code) == (400, 21606)
    assert "MMS" in sms_only.msg
    assert not [m for m in sim.messages if m.body == "pics"]


async def test_sim_text_kind_sends_the_sample_and_refuses_media_beside_it(
        servers: tuple[Simulator, Receiver], capsys: pytest.CaptureFixture[str]) -> None:
    sim, relay = servers
    parser = argparse.ArgumentParser(prog="smsdesk")
    register(parser.add_subparsers())
    base = ["sim", "text", "--from", CUSTOMER, "--to", DEMO_US, "--sim", sim.url]
    args = parser.parse_args([*base, "--kind", "pdf"])
    assert await asyncio.to_thread(args.run, args) == 0
    params = relay.on("/twilio/inbound")[0].params
    assert (params["MediaContentType0"], params["Body"]) == ("application/pdf", "My invoice")
    both = parser.parse_args([*base, "--kind", "pdf", "--media", "x.png"])
    assert await asyncio.to_thread(both.run, both) == 2
    assert "--kind sends a sample" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--kind", "sticker"])
