"""The relay's one port: Twilio's webhooks, outbound media, health, agents' websocket.

A bare ASGI application (no framework): a handful of routes, each a function
that reads what it needs, asks ``server.webhooks`` what the request means and
answers. Twilio is answered only after the store has made the change durable.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core import bot_writes, queries, writes
from core.models import Account, Agent, Event, Media
from core.store import DatabaseUnavailable, Store
from server import commands, media, webhooks
from server.agents_ws import AgentSessions, Session
from server.hub import Hub
from server.media import MediaStore
from server.presence import PresenceBoard

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

READ_TIMEOUT = 10  # a client that sends nothing for this long is cut off
# /healthz waits this long for the database: well under a balancer's check timeout.
HEALTH_TIMEOUT = 2.0
RELAY_NAME = "SMSDESK_RELAY_NAME"  # names this relay in /healthz (else host:pid)


def relay_name() -> str:
    """This relay process's stable name: as configured, else host name and process id."""
    return os.environ.get(RELAY_NAME) or f"{socket.gethostname()}:{os.getpid()}"


class BodyTooLarge(Exception):
    pass


@dataclass
class Relay:
    store: Store
    public_url: str
    media: MediaStore  # inbound MMS, agents' uploads, the signed outbound URLs
    media_secret: bytes
    hub: Hub = field(default_factory=Hub)
    on_queued: Callable[[], None] = lambda: None
    read_timeout: float = READ_TIMEOUT
    name: str = field(default_factory=relay_name)  # this relay, in /healthz
    # Accounts by SID, so a webhook costs no database read before its write.
    _accounts: dict[str, Account] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.presence = PresenceBoard(self.hub)
        self.sessions = AgentSessions()
        self.store.on_commit(self.hub.publish)
        self.store.on_commit(self.sessions.apply)
        self.store.on_commit(self._forget_changed_accounts)

    def _forget_changed_accounts(self, events: list[Event]) -> None:
        if any(event.kind == "account.updated" for event in events):
            self._accounts.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)

    # --- websocket ---------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/ws":
            await send({"type": "websocket.close", "code": 4404})
            return
        session = Session(receive, send, hub=self.hub, store=self.store,
                          context=self._command_context, presence=self.presence,
                          sessions=self.sessions)
        await session.run()

    def _command_context(self, agent: Agent) -> commands.Context:
        return commands.Context(store=self.store, agent=agent, media=self.media,
                                on_queued=self.on_queued, public_url=self.public_url)

    # --- http --------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        try:
            if path == "/healthz" and method in ("GET", "HEAD"):
                await self._health(send)
            elif path == "/twilio/inbound" and method == "POST":
                await self._inbound(scope, receive, send)
            elif path == "/twilio/status" and method == "POST":
                await self._status(scope, receive, send)
            elif path.startswith("/media/") and method in ("GET", "HEAD"):
                await self._media(path, send)
            elif path in ("/twilio/inbound", "/twilio/status", "/healthz"):
                await _answer(send, 405, b"method not allowed\n")
            else:
                await _answer(send, 404, b"not found\n")
        except BodyTooLarge:
            await _answer(send, 413, b"request body too large\n")
        except TimeoutError:
            await _answer(send, 408, b"request timed out\n")
        except webhooks.Malformed as error:
            await _answer(send, 400, f"{error}\n".encode())
        except DatabaseUnavailable as error:  # Twilio then tries the number's fallback URL
            logger.warning("%s %s: %s", method, path, error)  # the details stay in the log
            await _answer(send, 503, b"database unavailable: try again shortly\n")

    async def _health(self, send: Send) -> None:
        """Whether this relay can serve, for a load balancer's health check: 503 when the
        database does not answer within ``HEALTH_TIMEOUT``, so the balancer takes this
        relay out rather than sending it webhooks it cannot store."""
        try:
            seq: int | None = await asyncio.wait_for(self.store.read(queries.latest_seq),
                                                     HEALTH_TIMEOUT)
            database = "ok"
        except TimeoutError:
            seq, database = None, f"no answer within {HEALTH_TIMEOUT:g} s"
        except Exception as error:  # unavailable, or failing: either way, not healthy
            seq, database = None, str(error) or type(error).__name__
        health = {"ok": database == "ok", "seq": seq, "agents": len(self.hub),
                  "commits": self.store.batches, "writes": self.store.jobs,
                  "commit_seconds": round(self.store.commit_seconds, 3),
                  "relay": self.name, "backend": self.store.backend.name,
                  "leads": self.store.leads(), "database": database}
        await _answer(send, 200 if database == "ok" else 503, json.dumps(health).encode(),
                      "application/json")

    async def _signed_params(self, scope: Scope, receive: Receive,
                             send: Send) -> tuple[Account, dict[str, str]] | None:
        """The webhook's form, when Twilio signed it with the named account's token."""
        if _declared_length(scope) > webhooks.MAX_BODY_BYTES:
            raise BodyTooLarge  # said up front: no need to wait for it to arrive
        body = await _read_body(receive, webhooks.MAX_BODY_BYTES, self.read_timeout)
        params = webhooks.parse_form(body)
        sid = webhooks.account_sid_of(params)
        signature = _header(scope, b"x-twilio-signature")
        query = scope.get("query_string", b"").decode("latin-1")
        account = self._accounts.get(sid)
        for fresh in (False, True):
            if fresh or account is None:
                # Not cached, or cached before its token was rotated (perhaps by the
                # admin CLI, another process): ask the database.
                account = await self.store.read(queries.account_by_sid, sid)
                if account is None:
                    break
                self._accounts[sid] = account
            if webhooks.signature_is_valid(public_url=self.public_url, path=scope["path"],
                                           query=query, params=params, signature=signature,
                                           auth_token=account.auth_token):
                return account, params
        await _answer(send, 403, b"signature does not match\n")
        return None

    async def _inbound(self, scope: Scope, receive: Receive, send: Send) -> None:
        signed = await self._signed_params(scope, receive, send)
        if signed is None:
            return
        account, params = signed
        text, refs = webhooks.inbound_from(params)
        # Only a text with media needs the duplicate check before the store's own:
        # a retried MMS must not be downloaded again.
        if refs and await self.store.read(queries.message_by_sid, text.sid) is None:
            fetched = await asyncio.gather(*(self._fetch(account, ref) for ref in refs))
            text = webhooks.with_media(text, tuple(fetched))
        try:
            # Held when its number is out of service; else into its ticket, with the bot's
            # answer queued in the same transaction when the number runs a bot.
            received = await self.store.write(bot_writes.receive_and_answer, text)
        except writes.UnknownNumber as error:
            await _answer(send, 404, f"{error}\n".encode())
            return
        if received.bot_queued:
            self.on_queued()
        await _answer(send, 200, webhooks.EMPTY_TWIML, "text/xml")

    async def _fetch(self, account: Account, ref: webhooks.MediaRef) -> Media:
        """Download and keep one inbound media item; a failure keeps the reference."""
        try:
            data, kind = await asyncio.to_thread(
                media.download, ref.url, account_sid=account.sid, auth_token=account.auth_token
            )
            digest = await self.media.put(data)
        except Exception as error:
            logger.warning("could not fetch media %s: %s", ref.url, error)
            return Media(content_type=ref.content_type, size=0, twilio_url=ref.url)
        return Media(content_type=ref.content_type or kind, size=len(data), sha256=digest,
                     twilio_url=ref.url)

    async def _status(self, scope: Scope, receive: Receive, send: Send) -> None:
        signed = await self._signed_params(scope, receive, send)
        if signed is None:
            return
        report = webhooks.status_from(signed[1])
        # Durable before the 200, even when its message's SID is not recorded yet.
        await self.store.write(writes.record_status, report.sid, report.status,
                               report.error_code)
        await _answer(send, 200, webhooks.EMPTY_TWIML, "text/xml")

    # --- outbound media ----------------------------------------------------------

    def media_url(self, item: Media) -> str:
        """The unguessable public URL Twilio fetches an outbound attachment from."""
        token = _media_token(self.media_secret, item.sha256, item.content_type)
        kind = item.content_type.replace("/", "~")
        return f"{self.public_url.rstrip('/')}/media/{item.sha256}/{kind}/{token}"

    async def _media(self, path: str, send: Send) -> None:
        parts = path.split("/")
        if len(parts) != 5:
            await _answer(send, 404, b"not found\n")
            return
        digest, kind, token = parts[2], parts[3].replace("~", "/"), parts[4]
        expected = _media_token(self.media_secret, digest, kind)
        # compare_digest refuses non-ASCII text (TypeError); no such token is ours.
        signed = token.isascii() and hmac.compare_digest(token, expected)
        data = await self.media.read(digest) if signed else None
        if data is None:
            await _answer(send, 404, b"not found\n")
            return
        await _answer(send, 200, data, kind)


def _media_token(secret: bytes, digest: str, content_type: str) -> str:
    return hmac.new(secret, f"{digest}:{content_type}".encode(), hashlib.sha256).hexdigest()[:40]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _declared_length(scope: Scope) -> int:
    """The Content-Length the client announced (0 if none, or none we can read)."""
    given = _header(scope, b"content-length")
    return int(given) if given.isascii() and given.isdigit() and len(given) <= 18 else 0


async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes:
    chunks, size = [], 0
    while True:
        message = await asyncio.wait_for(receive(), timeout)
        if message["type"] == "http.disconnect":
            raise TimeoutError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes,
                  content_type: str = "text/plain; charset=utf-8") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
    ]})
    await send({"type": "http.response.body", "body": body})
