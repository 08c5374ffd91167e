"""The Twilio simulator, driven through the real twilio SDK and real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import pytest_asyncio
import requests
import uvicorn
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from server.simulator import Simulator, seed_demo
from server.simulator.customers import DEMO_CUSTOMERS, demo_png, play_script, png
from server.simulator.runner import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, DEMO_UK, DEMO_US
from server.simulator.state import Account

OAI = Path("/work/shared/twilio-oai/twilio_api_v2010.json")
CUSTOMER = "+14155550142"
US_LONG_CODE = "+14155550100"


class SimHttpClient(TwilioHttpClient):
    """Points the SDK at the simulator, as the relay does."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(
            method, url.replace("https://api.twilio.com", self.base), *args, **kwargs
        )


@dataclass
class Hit:
    path: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class Receiver:
    """A tiny ASGI app on uvicorn that records the webhooks it gets (a stand-in relay)."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    answer_status: int = 200
    answer_body: bytes = b"<Response/>"
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = self.url + scope["path"] + (f"?{query}" if query else "")
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.hits.append(Hit(scope["path"], url, headers, params))
        self.arrived.set()
        await send({"type": "http.response.start", "status": self.answer_status,
                    "headers": [(b"content-type", b"text/xml")]})
        await send({"type": "http.response.body", "body": self.answer_body})

    async def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(self, http="h11", lifespan="off", log_level="warning")
        )
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        assert self.server is not None and self.task is not None
        self.server.should_exit = True
        await self.task

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 3.0) -> list[Hit]:
        async with asyncio.timeout(timeout):
            while len(self.on(path)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.on(path)


@dataclass
class World:
    sim: Simulator
    relay: Receiver
    account: Account

    def client(self, sid: str | None = None, token: str | None = None) -> Client:
        return Client(
            sid or self.account.sid,
            token or self.account.auth_token,
            http_client=SimHttpClient(self.sim.url),
        )

    async def sdk(self, call: Callable[[Client], Any], **creds: str) -> Any:
        return await asyncio.to_thread(call, self.client(**creds))

    async def error(self, call: Callable[[Client], Any], **creds: str) -> TwilioRestException:
        with pytest.raises(TwilioRestException) as caught:
            await self.sdk(call, **creds)
        return caught.value

    def send(self, to: str, body: str = "Hi", from_: str = DEMO_US, **kw: Any) -> Callable:
        return lambda c: c.messages.create(to=to, from_=from_, body=body, **kw)

    def valid(self, hit: Hit, token: str | None = None) -> bool:
        validator = RequestValidator(token or self.account.auth_token)
        return validator.validate(hit.url, hit.params, hit.headers["x-twilio-signature"])


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def servers() -> AsyncIterator[tuple[Simulator, Receiver]]:
    """One simulator and one stand-in relay for the module (uvicorn takes ~0.1 s to stop)."""
    sim = Simulator(webhook_timeout=3)
    relay = Receiver()
    await asyncio.gather(relay.start(), sim.start(host="127.0.0.1", port=0))
    yield sim, relay
    await asyncio.gather(sim.stop(), relay.stop())


@pytest_asyncio.fixture(loop_scope="module")
async def world(servers: tuple[Simulator, Receiver]) -> World:
    sim, relay = servers
    await sim.reset()
    sim.state.knobs.delivery_delay = 0.005
    relay.hits.clear()
    relay.answer_status = 200
    account = seed_demo(sim, sms_url=relay.url + "/twilio/inbound")
    sim.add_number(account.sid, US_LONG_CODE, mms=True)
    return World(sim, relay, account)


# -- accounts and numbers -------------------------------------------------------------------------
async def test_fetch_account_with_good_credentials(world: World) -> None:
    account = await world.sdk(lambda c: c.api.v2010.accounts(DEMO_ACCOUNT_SID).fetch())
    assert account.sid == DEMO_ACCOUNT_SID
    assert account.status == "active"
    assert account.type == "Full"
    assert account.friendly_name == "smsdesk demo"
    assert account.date_created.tzinfo is not None  # the SDK parsed our RFC 2822 date


@pytest.mark.parametrize(
    "creds",
    [{"token": "wrong-token"}, {"sid": "AC" + "0" * 32, "token": DEMO_AUTH_TOKEN}],
)
async def test_bad_credentials_are_20003(world: World, creds: dict[str, str]) -> None:
    error = await world.error(lambda c: c.api.v2010.accounts(c.account_sid).fetch(), **creds)
    assert (error.status, error.code) == (401, 20003)


async def test_missing_credentials_and_unknown_resources(world: World) -> None:
    base = f"{world.sim.url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}"
    anonymous = await asyncio.to_thread(requests.get, base + ".json")
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": 20003, "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401,
    }
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    missing = await asyncio.to_thread(
        requests.get, base + "/Messages/SM" + "0" * 32 + ".json", auth=auth
    )
    assert missing.status_code == 404 and missing.json()["code"] == 20404
    error = await world.error(lambda c: c.messages("SM" + "1" * 32).fetch())
    assert (error.status, error.code) == (404, 20404)


async def test_closed_account_cannot_authenticate(world: World) -> None:
    world.account.status = "closed"
    error = await world.error(lambda c: c.api.v2010.accounts(c.account_sid).fetch())
    assert error.code == 20003


async def test_suspended_account_can_be_read_but_not_send(world: World) -> None:
    world.account.status = "suspended"
    account = await world.sdk(lambda c: c.api.v2010.accounts(c.account_sid).fetch())
    assert account.status == "suspended"
    error = await world.error(world.send(CUSTOMER))
    assert error.code == 10001


async def test_balance(world: World) -> None:
    balance = await world.sdk(lambda c: c.api.v2010.account.balance.fetch())
    assert (balance.balance, balance.currency, balance.account_sid) == (
        "20.00", "USD", DEMO_ACCOUNT_SID,
    )


async def test_numbers_list_and_update(world: World) -> None:
    numbers = await world.sdk(lambda c: c.incoming_phone_numbers.list())
    by_phone = {n.phone_number: n for n in numbers}
    assert set(by_phone) == {DEMO_US, DEMO_UK, US_LONG_CODE}
    assert by_phone[DEMO_US].capabilities == {"voice": True, "sms": True, "mms": True,
                                              "fax": False}
    assert by_phone[DEMO_UK].capabilities["mms"] is False
    assert by_phone[DEMO_US].sms_url == world.relay.url + "/twilio/inbound"
    assert (by_phone[DEMO_US].type, by_phone[DEMO_UK].type) == ("tollFree", "mobile")

    sid = by_phone[DEMO_UK].sid
    updated = await world.sdk(
        lambda c: c.incoming_phone_numbers(sid).update(
            sms_url="https://relay.example/twilio/inbound", sms_method="POST",
            status_callback="https://relay.example/twilio/status",
        )
    )
    assert updated.sms_url == "https://relay.example/twilio/inbound"
    assert updated.status_callback == "https://relay.example/twilio/status"
    again = await world.sdk(lambda c: c.incoming_phone_numbers(sid).fetch())
    assert again.sms_url == "https://relay.example/twilio/inbound"


async def test_numbers_paging_envelope(world: World) -> None:
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    url = f"{world.sim.url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/IncomingPhoneNumbers.json"
    page = (await asyncio.to_thread(requests.get, url, params={"PageSize": 2}, auth=auth)).json()
    assert len(page["incoming_phone_numbers"]) == 2
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 2, 0, 1)
    assert page["previous_page_uri"] is None
    assert "Page=1" in page["next_page_uri"]
    assert page["first_page_uri"].startswith(
        f"/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/IncomingPhoneNumbers.json?"
    )
    # the SDK follows next_page_uri
    numbers = await world.sdk(lambda c: c.incoming_phone_numbers.list(page_size=1))
    assert len(numbers) == 3


# -- sending --------------------------------------------------------------------------------------
async def test_create_message_then_signed_status_callbacks(world: World) -> None:
    callback = world.relay.url + "/twilio/status"
    message = await world.sdk(world.send(CUSTOMER, "Your parcel ships today",
                                         status_callback=callback))
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.body) == (CUSTOMER, DEMO_US,
                                                         "Your parcel ships today")
    assert (message.num_segments, message.num_media, message.direction) == ("1", "0",
                                                                            "outbound-api")
    assert message.price is None
    hits = await world.relay.wait_for("/twilio/status", 2)
    assert [h.params["MessageStatus"] for h in hits] == ["sent", "delivered"]
    for hit in hits:
        assert world.valid(hit)
        assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
        assert hit.params["MessageSid"] == hit.params["SmsSid"] == message.sid
        assert hit.params["SmsStatus"] == hit.params["MessageStatus"]
        assert hit.params["AccountSid"] == DEMO_ACCOUNT_SID
        assert (hit.params["From"], hit.params["To"]) == (DEMO_US, CUSTOMER)
        assert hit.params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in hit.params
    fetched = await world.sdk(lambda c: c.messages(message.sid).fetch())
    assert fetched.status == "delivered"
    assert fetched.price is not None and fetched.date_sent is not None


async def test_tampered_callback_fails_validation(world: World) -> None:
    await world.sdk(world.send(CUSTOMER, status_callback=world.relay.url + "/s"))
    hit = (await world.relay.wait_for("/s", 1))[0]
    assert world.valid(hit)
    assert not world.valid(Hit(hit.path, hit.url, hit.headers, {**hit.params, "To": "+1"}))
    assert not world.valid(hit, token="another-token")


async def test_mms_create_with_media_urls(world: World) -> None:
    # Until Twilio has fetched them, a media's type is the one its URL suggests. (On
    # loopback: the simulator then fetches them, see test_sim_content.py.)
    urls = [f"{world.relay.url}/p{i}.png" for i in range(3)]
    message = await world.sdk(world.send(CUSTOMER, "Photos", media_url=urls))
    assert message.sid.startswith("MM") and message.num_media == "3"
    media = await world.sdk(lambda c: c.messages(message.sid).media.list())
    assert [m.content_type for m in media] == ["image/png"] * 3
    assert all(m.sid.startswith("ME") and m.parent_sid == message.sid for m in media)


async def test_us_long_code_unregistered_is_undelivered_30034(world: World) -> None:
    callback = world.relay.url + "/cb"
    await world.sdk(world.send(CUSTOMER, from_=US_LONG_CODE, status_callback=callback))
    hits = await world.relay.wait_for("/cb", 2)
    assert [(h.params["MessageStatus"], h.params.get("ErrorCode")) for h in hits] == [
        ("sent", None), ("undelivered", "30034"),
    ]
    # once registered, it delivers; a UK number is not subject to 10DLC
    world.sim.state.number_by_phone(US_LONG_CODE).a2p_registered = True
    await world.sdk(world.send("+447700900123", from_=US_LONG_CODE, status_callback=callback))
    await world.sdk(world.send(CUSTOMER, from_=US_LONG_CODE, status_callback=callback))
    hits = await world.relay.wait_for("/cb", 6)
    assert [h.params["MessageStatus"] for h in hits[2:]].count("delivered") == 2


async def test_failure_knob_30003(world: World) -> None:
    world.sim.state.knobs.fail_to[CUSTOMER] = 30003
    message = await world.sdk(world.send(CUSTOMER, status_callback=world.relay.url + "/cb"))
    hits = await world.relay.wait_for("/cb", 2)
    assert hits[-1].params["MessageStatus"] == "undelivered"
    assert hits[-1].params["ErrorCode"] == "30003"
    fetched = await world.sdk(lambda c: c.messages(message.sid).fetch())
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)
    assert fetched.error_message


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "not-a-number"}, 21211),
        ({"to": "+3"}, 21211),
        ({"from_": "+18005550199"}, 21606),  # not a number of this account
        ({"body": "x" * 1601}, 21617),
        ({"body": "", "media_url": ["ftp://example.com/a.png"]}, 21620),
        ({"media_url": [f"https://e.example/{i}.png" for i in range(11)]}, 21623),
        ({"from_": DEMO_UK, "media_url": ["https://e.example/a.png"]}, 21606),  # SMS-only
        ({"body": ""}, 21602),
    ],
)
async def test_create_validation_errors(world: World, kwargs: dict[str, Any], code: int) -> None:
    args = {"to": CUSTOMER, "from_": DEMO_US, "body": "Hi", **kwargs}
    error = await world.error(lambda c: c.messages.create(**args))
    assert (error.status, error.code) == (400, code)
    assert error.msg
    assert not world.sim.messages


async def test_not_sms_capable_number_is_21606(world: World) -> None:
    world.sim.add_number(DEMO_ACCOUNT_SID, "+18885550111", sms=False, mms=False)
    error = await world.error(world.send(CUSTOMER, from_="+18885550111"))
    assert error.code == 21606


async def test_geo_permission_21408(world: World) -> None:
    world.account.geo_blocked.add("FR")
    error = await world.error(world.send("+33612345678"))
    assert error.code == 21408
    await world.sdk(world.send("+447700900123"))  # other countries still fine


async def test_trial_account_only_texts_verified_numbers(world: World) -> None:
    trial = world.sim.add_account(type="Trial")
    world.sim.add_number(trial.sid, "+18885550177")
    creds = {"sid": trial.sid, "token": trial.auth_token}
    error = await world.error(world.send(CUSTOMER, from_="+18885550177"), **creds)
    assert error.code == 21608
    trial.verified.add(CUSTOMER)
    message = await world.sdk(world.send(CUSTOMER, "Hello", from_="+18885550177"), **creds)
    assert message.body == "Sent from your Twilio trial account - Hello"


@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550002", 21612), ("+15005550003", 21408),
     ("+15005550004", 21610), ("+15005550009", 21614)],
)
async def test_magic_to_numbers(world: World, to: str, code: int) -> None:
    error = await world.error(world.send(to, from_="+15005550006"))
    assert (error.status, error.code) == (400, code)


@pytest.mark.parametrize(
    ("from_", "code"), [("+15005550001", 21212), ("+15005550007", 21606), ("+15005550008", 21611)]
)
async def test_magic_from_numbers(world: World, from_: str, code: int) -> None:
    error = await world.error(world.send(CUSTOMER, from_=from_))
    assert error.code == code


async def test_magic_valid_sender_works_for_any_account(world: World) -> None:
    other = world.sim.add_account()
    message = await world.sdk(
        world.send(CUSTOMER, from_="+15005550006"), sid=other.sid, token=other.auth_token
    )
    assert message.status == "queued"


# -- listing (reconciliation after a crash) -------------------------------------------------------
async def test_list_newest_first_with_filters(world: World) -> None:
    first = await world.sdk(world.send(CUSTOMER, "one"))
    second = await world.sdk(world.send("+447700900123", "two", from_=DEMO_UK))
    third = await world.sdk(world.send(CUSTOMER, "three"))
    await world.sim.settle()
    everything = await world.sdk(lambda c: c.messages.list())
    assert [m.sid for m in everything] == [third.sid, second.sid, first.sid]
    to_customer = await world.sdk(lambda c: c.messages.list(to=CUSTOMER))
    assert [m.sid for m in to_customer] == [third.sid, first.sid]
    from_uk = await world.sdk(lambda c: c.messages.list(from_=DEMO_UK))
    assert [m.sid for m in from_uk] == [second.sid]
    today = datetime.now(UTC)
    on_day = await world.sdk(lambda c: c.messages.list(to=CUSTOMER, date_sent=today.strftime(
        "%Y-%m-%d")))
    assert len(on_day) == 2
    after = await world.sdk(
        lambda c: c.messages.list(date_sent_after=today - timedelta(minutes=5))
    )
    assert len(after) == 3
    before = await world.sdk(
        lambda c: c.messages.list(date_sent_before=today - timedelta(days=1))
    )
    assert before == []
    paged = await world.sdk(lambda c: c.messages.list(page_size=2))
    assert [m.sid for m in paged] == [third.sid, second.sid, first.sid]


# -- inbound --------------------------------------------------------------------------------------
async def test_inbound_sms_webhook_params_and_signature(world: World) -> None:
    result = await world.sim.text(CUSTOMER, DEMO_US, "Where is my order?")
    assert result.status == 200 and result.body == "<Response/>"
    assert result.sid.startswith("SM")
    hit = world.relay.on("/twilio/inbound")[0]
    assert world.valid(hit)
    params = hit.params
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == result.sid
    assert (params["From"], params["To"], params["Body"]) == (CUSTOMER, DEMO_US,
                                                              "Where is my order?")
    assert (params["NumMedia"], params["NumSegments"]) == ("0", "1")
    assert params["SmsStatus"] == "received"
    assert params["AccountSid"] == DEMO_ACCOUNT_SID
    assert params["ApiVersion"] == "2010-04-01"
    assert (params["FromCountry"], params["FromState"], params["FromCity"]) == (
        "US", "CA", "SAN FRANCISCO",
    )
    assert params["ToCountry"] == "US"
    assert "MessagingServiceSid" not in params and "OptOutType" not in params
    assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
    stored = await world.sdk(lambda c: c.messages(result.sid).fetch())
    assert (stored.direction, stored.status) == ("inbound", "received")


async def test_inbound_mms_media_requires_auth_and_redirects(world: World) -> None:
    picture = demo_png()
    result = await world.sim.text(
        "+447400900123", DEMO_US, "Photo of the box",
        media=[("image/png", picture), ("text/plain", b"receipt #4417")],
    )
    assert result.sid.startswith("MM")
    hit = world.relay.on("/twilio/inbound")[0]
    assert world.valid(hit)
    params = hit.params
    assert params["NumMedia"] == "2"
    assert (params["MediaContentType0"], params["MediaContentType1"]) == (
        "image/png", "text/plain",
    )
    assert params["FromCountry"] == "GB" and params["FromCity"] == ""
    url = params["MediaUrl0"]
    assert url.startswith(
        f"{world.sim.url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages/{result.sid}/Media/ME"
    )
    anonymous = await asyncio.to_thread(requests.get, url, allow_redirects=False)
    assert anonymous.status_code == 401
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    redirect = await asyncio.to_thread(requests.get, url, auth=auth, allow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].startswith(f"{world.sim.url}/_sim/cdn/")
    followed = await asyncio.to_thread(requests.get, url, auth=auth)
    assert followed.status_code == 200
    assert followed.headers["content-type"] == "image/png"
    assert followed.content == picture
    second = await asyncio.to_thread(requests.get, params["MediaUrl1"], auth=auth)
    assert second.content == b"receipt #4417"
    media = await world.sdk(lambda c: c.messages(result.sid).media.list())
    assert {m.content_type for m in media} == {"image/png", "text/plain"}


async def test_stop_blocks_sends_until_start(world: World) -> None:
    result = await world.sim.text(CUSTOMER, DEMO_US, " stop ")
    assert result.status == 200
    hit = world.relay.on("/twilio/inbound")[0]
    assert hit.params["OptOutType"] == "STOP" and hit.params["Body"] == " stop "
    error = await world.error(world.send(CUSTOMER))
    assert error.code == 21610
    # per sender: the other number may still text them
    await world.sdk(world.send(CUSTOMER, from_=US_LONG_CODE))
    await world.sim.text(CUSTOMER, DEMO_US, "HELP")
    assert world.relay.on("/twilio/inbound")[1].params["OptOutType"] == "HELP"
    error = await world.error(world.send(CUSTOMER))
    assert error.code == 21610
    await world.sim.text(CUSTOMER, DEMO_US, "Unstop")
    assert world.relay.on("/twilio/inbound")[2].params["OptOutType"] == "START"
    await world.sdk(world.send(CUSTOMER))


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit", "OPTOUT",
                                  "revoke"])
async def test_every_stop_word_opts_out(world: World, word: str) -> None:
    await world.sim.text(CUSTOMER, DEMO_US, word)
    assert world.sim.state.is_opted_out(DEMO_US, CUSTOMER)


async def test_relay_errors_and_absence_are_reported(world: World) -> None:
    world.relay.answer_status = 403
    result = await world.sim.text(CUSTOMER, DEMO_US, "hello")
    assert result.status == 403
    number = world.sim.state.number_by_phone(DEMO_US)
    number.sms_url = "http://127.0.0.1:9/nowhere"  # discard port: nobody listens
    result = await world.sim.text(CUSTOMER, DEMO_US, "hello?")
    assert result.status is None
    assert world.sim.webhooks[-1].error


async def test_sms_method_get_is_signed_over_the_full_url(world: World) -> None:
    number = world.sim.state.number_by_phone(DEMO_US)
    number.sms_method = "GET"
    await world.sim.text(CUSTOMER, DEMO_US, "via GET")
    hit = world.relay.on("/twilio/inbound")[0]
    assert hit.params == {}
    validator = RequestValidator(DEMO_AUTH_TOKEN)
    assert validator.validate(hit.url, {}, hit.headers["x-twilio-signature"])
    assert "Body=via+GET" in hit.url


async def test_control_endpoint_text(world: World) -> None:
    import base64

    payload = {"from": CUSTOMER, "to": DEMO_US, "body": "from the CLI",
               "media": [{"content_type": "image/png",
                          "data_base64": base64.b64encode(png(2, 2)).decode()}]}
    answer = await asyncio.to_thread(requests.post, world.sim.url + "/_sim/text", json=payload)
    assert answer.status_code == 200
    assert answer.json()["webhook_status"] == 200
    assert world.relay.on("/twilio/inbound")[0].params["NumMedia"] == "1"
    bad = await asyncio.to_thread(requests.post, world.sim.url + "/_sim/text",
                                  json={"from": CUSTOMER, "to": "+19999999999"})
    assert bad.status_code == 400


# -- shapes ---------------------------------------------------------------------------------------
def _schema_keys(name: str) -> set[str]:
    spec = json.loads(OAI.read_text())
    return set(spec["components"]["schemas"][name]["properties"])


async def test_json_keys_match_twilio_openapi(world: World) -> None:
    auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
    base = f"{world.sim.url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}"

    async def get(path: str) -> dict[str, Any]:
        answer = await asyncio.to_thread(requests.get, base + path, auth=auth)
        assert answer.status_code == 200, answer.text
        return answer.json()

    inbound = await world.sim.text(CUSTOMER, DEMO_US, "pic", media=[("image/png", png(1, 1))])
    account = await get(".json")
    assert set(account) == _schema_keys("api.v2010.account")
    assert set(await get("/Balance.json")) == _schema_keys("api.v2010.account.balance")
    numbers = await get("/IncomingPhoneNumbers.json")
    assert set(numbers["incoming_phone_numbers"][0]) == _schema_keys(
        "api.v2010.account.incoming_phone_number"
    )
    message = await get(f"/Messages/{inbound.sid}.json")
    assert set(message) == _schema_keys("api.v2010.account.message")
    media = await get(f"/Messages/{inbound.sid}/Media.json")
    assert set(media["media_list"][0]) == _schema_keys("api.v2010.account.message.media")
    listing = await get("/Messages.json")
    assert set(listing) == {"messages", "end", "first_page_uri", "next_page_uri", "page",
                            "page_size", "previous_page_uri", "start", "uri"}
    # value types as Twilio sends them
    assert isinstance(message["num_segments"], str) and isinstance(message["num_media"], str)
    assert message["price"] is None or isinstance(message["price"], str)
    datetime.strptime(message["date_created"], "%a, %d %b %Y %H:%M:%S %z")
    assert message["date_created"].endswith("+0000")
    assert message["uri"] == f"/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages/{inbound.sid}.json"
    assert account["subresource_uris"]["messages"] == (
        f"/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages.json"
    )


async def test_fallback_url_gets_the_text_when_sms_url_fails(world: World) -> None:
    number = world.sim.state.number_by_phone(DEMO_US)
    number.sms_url = "http://127.0.0.1:9/down"
    number.sms_fallback_url = world.relay.url + "/fallback"
    result = await world.sim.text(CUSTOMER, DEMO_US, "anyone there?")
    assert result.status == 200
    hit = world.relay.on("/fallback")[0]
    assert world.valid(hit) and hit.params["Body"] == "anyone there?"
    assert hit.headers["i-twilio-idempotency-token"]


async def test_demo_script_plays(world: World) -> None:
    results = await play_script(world.sim, DEMO_US)
    assert [r.status for r in results] == [200] * 4
    hits = world.relay.on("/twilio/inbound")
    assert hits[1].params["NumMedia"] == "1"
    assert hits[-1].params["OptOutType"] == "STOP"
    assert world.sim.state.is_opted_out(DEMO_US, DEMO_CUSTOMERS[2].phone)
