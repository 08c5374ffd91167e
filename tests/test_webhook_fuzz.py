"""Anything a client sends the relay's HTTP endpoints gets an answer below 500.

Driven straight through the ASGI app (a real store file, no socket) so that
hypothesis can try thousands of requests quickly: an exception escaping the
app is what uvicorn turns into a 500, so the helper fails on either. A few
framings only a real HTTP server sees (chunked bodies, absurd Content-Length)
are sent over a socket to a relay on loopback.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relay_harness import ACCOUNT_SID, AUTH_TOKEN, CUSTOMER, US_TOLL_FREE, relay_on_loopback, seed
from twilio.request_validator import RequestValidator

from core import queries, writes
from core.db import Locator
from core.models import SenderType
from core.store import Store
from server.app import Relay
from server.media import FileMediaStore

PUBLIC_URL = "https://relay.example.test"
ENDPOINTS = ("/twilio/inbound", "/twilio/status", "/healthz", "/media/x/y/z", "/ws", "/")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture
async def app(tmp_path: Path, locator: Locator,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Relay]:
    monkeypatch.setenv("SMSDESK_TWILIO_API_URL", "http://127.0.0.1:9")  # media: refused at once
    await seed(locator)
    store = await Store.open(locator)
    try:
        yield Relay(store=store, public_url=PUBLIC_URL, media=FileMediaStore(tmp_path / "media"),
                    media_secret=b"s" * 32, read_timeout=1)
    finally:
        await store.close()


async def call(app: Relay, method: str, path: str, headers: list[tuple[bytes, bytes]],
               chunks: list[bytes]) -> tuple[int, bytes]:
    """One HTTP request through the ASGI app; its status and body."""
    incoming = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks or [b""])]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": headers}
    await app(scope, receive, send)
    status = sent[0]["status"]
    assert status < 500, sent
    return status, b"".join(m.get("body", b"") for m in sent[1:])


def signed_headers(path: str, params: dict[str, str]) -> list[tuple[bytes, bytes]]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return [(b"content-type", b"application/x-www-form-urlencoded"),
            (b"x-twilio-signature", signature.encode())]


def inbound(**fields: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT_SID, "From": CUSTOMER,
            "To": US_TOLL_FREE, "Body": "hi", "NumMedia": "0", "NumSegments": "1", **fields}


def status_report(**fields: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "2" * 32, "AccountSid": ACCOUNT_SID,
            "MessageStatus": "delivered", **fields}


# --- the faults found, one by one -------------------------------------------------------


async def test_a_non_ascii_signature_is_forged_not_a_crash(app: Relay) -> None:
    params = inbound()
    headers = [(b"x-twilio-signature", "é-not-base64".encode("latin-1"))]
    status, _ = await call(app, "POST", "/twilio/inbound", headers, [urlencode(params).encode()])
    assert status == 403
    assert await app.store.read(queries.count_tickets) == 0


@pytest.mark.parametrize(("path", "params"), [
    ("/twilio/inbound", inbound(NumSegments="99999999999999999999")),
    ("/twilio/inbound", inbound(NumSegments="-1")),
    ("/twilio/inbound", inbound(NumMedia="1" * 5000)),
    ("/twilio/inbound", inbound(Body="x" * 1601)),
    ("/twilio/inbound", inbound(NumMedia="1", MediaUrl0="javascript:1",
                                MediaContentType0="image/png")),
    ("/twilio/inbound", inbound(NumMedia="1", MediaUrl0="https://api.twilio.com/x",
                                MediaContentType0="image/png\r\nX-Evil: 1")),
    ("/twilio/status", status_report(ErrorCode="99999999999999999999")),
    ("/twilio/status", status_report(ErrorCode="-30003")),
    ("/twilio/status", status_report(ErrorCode="3e4")),
    ("/twilio/status", status_report(MessageStatus="teleported")),
])
async def test_a_signed_field_out_of_twilios_range_is_a_400(app: Relay, path: str,
                                                            params: dict[str, str]) -> None:
    seq = await app.store.read(queries.latest_seq)
    status, body = await call(app, "POST", path, signed_headers(path, params),
                              [urlencode(params).encode()])
    assert status == 400, body
    assert await app.store.read(queries.latest_seq) == seq


async def test_twilios_documented_extremes_are_accepted(app: Relay) -> None:
    params = inbound(NumSegments="0", Body="é" * 1600)
    path = "/twilio/inbound"
    status, _ = await call(app, "POST", path, signed_headers(path, params),
                           [urlencode(params).encode()])
    assert status == 200
    params = status_report(MessageStatus="undelivered", ErrorCode="30003")
    path = "/twilio/status"
    assert (await call(app, "POST", path, signed_headers(path, params),
                       [urlencode(params).encode()]))[0] == 200


async def test_a_text_to_a_connected_short_code_is_taken(app: Relay) -> None:
    """Twilio's To is the number texted: a short code has no + and 5-6 digits."""
    account = (await app.store.read(queries.accounts))[0]
    await app.store.write(writes.save_number, account_id=account.id, e164="88555",
                          sender_type=SenderType.SHORT_CODE, country="US")
    params = inbound(To="88555")
    path = "/twilio/inbound"
    status, _ = await call(app, "POST", path, signed_headers(path, params),
                           [urlencode(params).encode()])
    assert status == 200
    assert await app.store.read(queries.count_tickets) == 1


async def test_a_media_path_with_non_ascii_is_not_found(app: Relay) -> None:
    status, _ = await call(app, "GET", "/media/" + "a" * 64 + "/image~png/tökén", [], [])
    assert status == 404


# --- fuzz -------------------------------------------------------------------------------

header_names = st.sampled_from([b"x-twilio-signature", b"content-type", b"content-length",
                                b"host", b"transfer-encoding", b"i-twilio-idempotency-token"])
headers = st.lists(st.tuples(header_names | st.binary(min_size=1, max_size=20),
                             st.binary(max_size=80)), max_size=6)
absurd = (st.text(max_size=40) | st.integers().map(str)
          | st.sampled_from(["", "0", "-0", "1e9", "NaN", "+1", " 1", "١", "9" * 400,
                             "\x00", "%", "&", "=", "\ud7ff", "SM" + "g" * 32]))
inbound_fields = ("MessageSid", "AccountSid", "From", "To", "Body", "NumMedia",
                  "NumSegments", "MediaUrl0", "MediaContentType0", "SmsStatus", "ApiVersion")
status_fields = ("MessageSid", "AccountSid", "MessageStatus", "ErrorCode", "ErrorMessage")


@FUZZ
@given(method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]),
       path=st.sampled_from(ENDPOINTS) | st.text(max_size=30).map(lambda t: "/" + t),
       headers=headers, body=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400)))
async def test_any_request_gets_an_answer_below_500(app: Relay, method: str, path: str,
                                                    headers: list[tuple[bytes, bytes]],
                                                    body: bytes, cuts: list[int]) -> None:
    edges = sorted({0, len(body), *(c for c in cuts if c < len(body))})
    chunks = [body[a:b] for a, b in itertools.pairwise(edges)]
    await call(app, method, path, headers, chunks)


@FUZZ
@given(form=st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=8),
       signature=st.text(max_size=40), account=st.booleans())
async def test_any_unsigned_form_is_refused_below_500(app: Relay, form: dict[str, str],
                                                      signature: str, account: bool) -> None:
    if account:
        form["AccountSid"] = ACCOUNT_SID
    for path in ("/twilio/inbound", "/twilio/status"):
        sig = signature.encode("utf-8")
        status, _ = await call(app, "POST", path, [(b"x-twilio-signature", sig)],
                               [urlencode(form).encode()])
        assert status in (400, 403)


@FUZZ
@given(field=st.sampled_from(inbound_fields), value=absurd, sid=st.integers(1, 10**6))
async def test_every_signed_inbound_field_out_of_range_is_answered(app: Relay, field: str,
                                                                    value: str, sid: int) -> None:
    params = inbound(**{"MessageSid": f"SM{sid:032x}", field: value})
    path = "/twilio/inbound"
    status, _ = await call(app, "POST", path, signed_headers(path, params),
                           [urlencode(params).encode()])
    assert status in (200, 400, 403, 404)


@FUZZ
@given(field=st.sampled_from(status_fields), value=absurd)
async def test_every_signed_status_field_out_of_range_is_answered(app: Relay, field: str,
                                                                   value: str) -> None:
    params = status_report(**{field: value})
    path = "/twilio/status"
    status, _ = await call(app, "POST", path, signed_headers(path, params),
                           [urlencode(params).encode()])
    assert status in (200, 400, 403)


@FUZZ
@given(parts=st.lists(st.text(max_size=70), min_size=0, max_size=6))
async def test_any_media_path_is_answered(app: Relay, parts: list[str]) -> None:
    status, _ = await call(app, "GET", "/media/" + "/".join(parts), [], [])
    assert status == 404


# --- framings only a real server sees ------------------------------------------------------


@pytest.mark.parametrize("head", [
    b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999\r\n\r\nab",
    b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nAccou\r\n0\r\n\r\n",
    b"POST /twilio/status HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
    b"abcd",
    b"POST /twilio/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"GET /media/%ff%fe/%00/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /twilio/inbound HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: \xff\xfe\r\n"
    b"Content-Length: 45\r\n\r\nAccountSid=" + ACCOUNT_SID.encode(),
])
async def test_odd_framings_on_a_real_relay_are_answered_below_500(tmp_path: Path,
                                                                   head: bytes) -> None:
    async with relay_on_loopback(tmp_path) as relay:
        host, port = relay.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 4"), status_line


@pytest.fixture
async def loopback(tmp_path: Path) -> AsyncIterator[str]:
    async with relay_on_loopback(tmp_path) as relay:
        yield relay.url.removeprefix("http://")


raw_headers = st.lists(st.sampled_from([
    b"Content-Length: 5", b"Content-Length: 99999999999999999999", b"Content-Length: -1",
    b"Content-Length: 3", b"Transfer-Encoding: chunked", b"Content-Type: application/json",
    b"Content-Type: application/x-www-form-urlencoded", b"X-Twilio-Signature: \xff\x00",
    b"X-Twilio-Signature: abc=", b"Expect: 100-continue", b"Connection: close",
    b"Host: x", b"\xff: \xfe", b"Bad Header", b"Content-Length: 5, 5",
]), max_size=6)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from([b"POST", b"GET", b"PUT", b"BREW", b"\x00"]),
       path=st.sampled_from([b"/twilio/inbound", b"/twilio/status", b"/media/a/b/c",
                             b"/healthz", b"/ws", b"/%ff", b"*", b""]),
       headers=raw_headers, body=st.binary(max_size=64))
async def test_raw_bytes_on_a_real_relay_never_get_a_5xx(loopback: str, method: bytes,
                                                         path: bytes, headers: list[bytes],
                                                         body: bytes) -> None:
    host, port = loopback.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"%s %s HTTP/1.1\r\n%s\r\n\r\n%s" % (method, path, b"\r\n".join(
            [b"Host: relay", *headers]), body))
        writer.write_eof()
        status_line = await asyncio.wait_for(reader.readline(), 15)
    finally:
        writer.close()
    assert status_line == b"" or status_line[9:10] in b"1234", status_line
