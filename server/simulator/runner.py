"""``Simulator``: the state, the ASGI app on uvicorn (h11), and the webhooks it sends.

    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)   # sim.url is set
    account = sim.add_account()
    sim.add_number(account.sid, "+18885550100", sms_url="http://127.0.0.1:8000/twilio/inbound")
    result = await sim.text("+14155550142", "+18885550100", "Hello")
    await sim.stop()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from twilio.request_validator import RequestValidator

from core import optout
from server.simulator.api import App
from server.simulator.content import sample
from server.simulator.customers import geo_for
from server.simulator.media_fetch import fetch_all
from server.simulator.scenario import Staged, apply_scenario, builtin_scenario
from server.simulator.state import (
    API_VERSION,
    Account,
    Message,
    Number,
    State,
)

log = logging.getLogger("smsdesk.simulator")

DEMO_ACCOUNT_SID = "AC" + "5e" * 16
DEMO_AUTH_TOKEN = "simulated-auth-token-0123456789ab"
DEMO_US = "+18885550100"
DEMO_UK = "+447400900456"


@dataclass
class WebhookCall:
    """One request the simulator made to someone else's server (the relay)."""

    kind: str  # "inbound" or "status"
    url: str
    method: str
    params: dict[str, str]
    signature: str
    status: int | None = None  # None: no answer (connection refused, timeout)
    body: str = ""
    error: str = ""


@dataclass
class TextResult:
    """What ``Simulator.text`` did: the message it created and how the webhook went."""

    sid: str
    status: int | None  # HTTP status the relay answered; None if no SmsUrl or no answer
    body: str = ""
    message: Message | None = field(default=None, repr=False)


class _Server(uvicorn.Server):
    """uvicorn's server, noticing ``should_exit`` within 10 ms instead of 100 ms."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            for _ in range(10):
                if self.should_exit:
                    break
                await asyncio.sleep(0.01)


class Simulator:
    def __init__(self, *, webhook_timeout: float = 10.0) -> None:
        self.state = State()
        self.webhook_timeout = webhook_timeout
        self.webhooks: list[WebhookCall] = []
        self.url = ""
        self.app = App(
            self.state, base_url=lambda: self.url, on_created=self._schedule, on_text=self._on_text
        )
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); returns and sets ``self.url``."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}"
        config = uvicorn.Config(
            self.app, http="h11", lifespan="off", log_level="warning", access_log=False
        )
        self._server = _Server(config)
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                self._serving.result()  # re-raise why it could not start
            await asyncio.sleep(0.005)
        return self.url

    async def wait(self) -> None:
        """Until the server stops (Ctrl+C when run from the command line)."""
        if self._serving is not None:
            await self._serving

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await self._serving
        self._server = self._serving = None

    async def reset(self) -> None:
        """Forget everything (accounts, numbers, messages, knobs); keep serving."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.use_state(State())
        self.webhooks.clear()

    def use_state(self, state: State) -> None:
        """Serve ``state`` from now on (a reset, or one reloaded from ``--state FILE``)."""
        self.state = state
        self.app.state = state

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every pending status callback has been sent."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- setup shortcuts ---------------------------------------------------------------------
    def add_account(self, sid: str | None = None, auth_token: str | None = None,
                    **kwargs: Any) -> Account:
        return self.state.add_account(sid, auth_token, **kwargs)

    def add_number(self, account_sid: str, phone_number: str, **kwargs: Any) -> Number:
        return self.state.add_number(account_sid, phone_number, **kwargs)

    @property
    def messages(self) -> list[Message]:
        """Every message, oldest first."""
        return list(self.state.messages.values())

    # -- inbound: a customer texts one of our numbers -----------------------------------------
    async def text(
        self,
        from_: str,
        to: str,
        body: str = "",
        media: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] = (),
    ) -> TextResult:
        message, number, keyword = self.state.receive(from_, to, body, list(media))
        if not number.sms_url:
            return TextResult(message.sid, None, "", message)
        params = self.inbound_params(message, keyword)
        token = self._token(number.account_sid)
        call = await self.post_webhook("inbound", number.sms_url, params, token, number.sms_method)
        failed = call.status is None or call.status >= 400
        if failed and number.sms_fallback_url:  # as Twilio does: try the fallback URL once
            call = await self.post_webhook(
                "inbound", number.sms_fallback_url, params, token, number.sms_fallback_method
            )
        return TextResult(message.sid, call.status, call.body, message)

    async def text_sample(self, from_: str, to: str, kind: str, body: str | None = None
                          ) -> TextResult:
        """The customer texts ``to`` a sample of content ``kind`` ("gif", "pdf"... see
        server.simulator.content.KINDS), with its body unless ``body`` is given."""
        chosen = sample(kind)
        return await self.text(from_, to, chosen.body if body is None else body, chosen.media)

    def inbound_params(self, message: Message, keyword: optout.Keyword | None) -> dict[str, str]:
        """The form fields Twilio POSTs to a number's SmsUrl for an incoming text."""
        src, dst = geo_for(message.from_), geo_for(message.to)
        params = {
            "ToCountry": dst.country, "ToState": dst.state, "ToCity": dst.city, "ToZip": dst.zip,
            "SmsMessageSid": message.sid,
            "NumMedia": str(len(message.media)),
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "Body": message.body,
            "FromCountry": src.country, "FromState": src.state, "FromCity": src.city,
            "FromZip": src.zip,
            "To": message.to,
            "NumSegments": str(message.num_segments),
            "MessageSid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.from_,
            "ApiVersion": API_VERSION,
        }
        for index, media in enumerate(message.media):
            params[f"MediaContentType{index}"] = media.content_type
            params[f"MediaUrl{index}"] = (
                f"{self.url}/{API_VERSION}/Accounts/{message.account_sid}/Messages/"
                f"{message.sid}/Media/{media.sid}"
            )
        opt_out_type = {
            optout.Keyword.OPT_OUT: "STOP",
            optout.Keyword.OPT_IN: "START",
            optout.Keyword.HELP: "HELP",
        }.get(keyword) if keyword else None
        if opt_out_type:
            params["OptOutType"] = opt_out_type
        return params

    async def _on_text(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST /_sim/text: ``{"from", "to", "body"?, "media"?: [{"content_type",
        "data_base64"}]}``, or ``"kind"`` (a sample content type) instead of ``media``."""
        if request.get("kind"):
            result = await self.text_sample(request["from"], request["to"], str(request["kind"]),
                                            request.get("body"))
        else:
            media = [
                (item["content_type"], base64.b64decode(item["data_base64"]))
                for item in request.get("media", [])
            ]
            result = await self.text(request["from"], request["to"], request.get("body", ""),
                                     media)
        return {"sid": result.sid, "webhook_status": result.status, "webhook_body": result.body}

    # -- outbound: status callbacks --------------------------------------------------------
    def _schedule(self, message: Message) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, message: Message) -> None:
        delay = self.state.knobs.delivery_delay
        if message.media:  # Twilio fetches the MediaUrls first; what it gets may stop the send
            urls = [media.url or "" for media in message.media]
            fetched = await asyncio.to_thread(fetch_all, urls)
            refused = self.state.refuse_media(message, fetched)
            if refused is not None:
                await asyncio.sleep(delay)
                self.state.advance(message, "failed", refused)
                await self._status_callback(message)
                return
        await asyncio.sleep(delay)
        self.state.advance(message, "sent")
        await self._status_callback(message)
        await asyncio.sleep(delay)
        status, code = self.state.delivery_outcome(message)
        self.state.advance(message, status, code)
        await self._status_callback(message)

    async def _status_callback(self, message: Message) -> None:
        if not message.status_callback:
            return
        params = self.status_params(message)
        if self.state.knobs.lose_status_callbacks:
            signature = RequestValidator(self._token(message.account_sid)).compute_signature(
                message.status_callback, params)
            self.webhooks.append(WebhookCall("status", message.status_callback, "POST", params,
                                             signature, error="lost (knobs.lose_status_callbacks)"))
            return
        await self.post_webhook(
            "status", message.status_callback, params, self._token(message.account_sid)
        )

    def status_params(self, message: Message, status: str | None = None) -> dict[str, str]:
        """The form fields Twilio POSTs to a message's StatusCallback, reporting its status
        now, or ``status`` (a report arriving late, after the message moved on)."""
        reported = status or message.status
        params = {
            "SmsSid": message.sid,
            "SmsStatus": reported,
            "MessageStatus": reported,
            "To": message.to,
            "MessageSid": message.sid,
            "AccountSid": message.account_sid,
            "From": message.from_,
            "ApiVersion": API_VERSION,
        }
        if message.error_code is not None and reported in ("failed", "undelivered"):
            params["ErrorCode"] = str(message.error_code)
        return params

    # -- HTTP out ---------------------------------------------------------------------------
    def _token(self, account_sid: str) -> str:
        return self.state.accounts[account_sid].auth_token

    async def post_webhook(
        self, kind: str, url: str, params: dict[str, str], auth_token: str, method: str = "POST"
    ) -> WebhookCall:
        """Send a webhook signed exactly as Twilio signs it (X-Twilio-Signature)."""
        validator = RequestValidator(auth_token)
        data: bytes | None
        if method.upper() == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params)
            signature = validator.compute_signature(target, {})
            data = None
        else:
            target = url
            signature = validator.compute_signature(url, params)
            data = urlencode(params).encode()
        call = WebhookCall(kind, url, method.upper(), dict(params), signature)
        self.webhooks.append(call)
        request = urllib.request.Request(target, data=data, method=method.upper())
        request.add_header("X-Twilio-Signature", signature)
        request.add_header("User-Agent", "TwilioProxy/1.1")
        request.add_header("Accept", "*/*")
        request.add_header("I-Twilio-Idempotency-Token", secrets.token_hex(16))
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        await asyncio.to_thread(self._send, request, call)
        return call

    def _send(self, request: urllib.request.Request, call: WebhookCall) -> None:
        try:
            with urllib.request.urlopen(request, timeout=self.webhook_timeout) as answer:
                call.status = answer.status
                call.body = answer.read(64 * 1024).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            call.status = exc.code
            with contextlib.suppress(OSError):
                call.body = exc.read(64 * 1024).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            call.error = str(exc)
            log.warning("webhook %s %s failed: %s", call.kind, call.url, exc)


def seed_demo(sim: Simulator, sms_url: str = "") -> Account:
    """The demo account: one MMS toll-free US number, one SMS-only UK long code."""
    account = sim.state.accounts.get(DEMO_ACCOUNT_SID) or sim.add_account(
        DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN, friendly_name="smsdesk demo"
    )
    if sim.state.number_by_phone(DEMO_US) is None:
        sim.add_number(account.sid, DEMO_US, mms=True, friendly_name="Demo US toll-free",
                       sms_url=sms_url)
    if sim.state.number_by_phone(DEMO_UK) is None:
        sim.add_number(account.sid, DEMO_UK, mms=False, voice=False,
                       friendly_name="Demo UK long code", sms_url=sms_url)
    return account


def seed_rehearsals(sim: Simulator) -> list[Staged]:
    """One account of each kind an admin meets (scenarios/rehearsals.toml); those it added."""
    return apply_scenario(builtin_scenario("rehearsals"), sim.state)
