"""The inbox's one connection to the relay: hello, catch up, stay live, come back.

The inbox must never lose an event nor act twice because the network blinked.
Two parts make that hold:

* ``ClientProtocol`` (sans-I/O) turns the relay's frames into decisions: which
  events are new (by ``seq``; a replay after a reconnect may overlap what was
  already seen), which command an answer settles, when the relay refused us.
  It is tested without a socket.
* ``RelayClient`` (asyncio, ``websockets``) owns the socket: it reconnects with
  backoff, says ``hello`` with the last ``seq`` it handed over, and sends again,
  with the same ``id``, every command not yet answered. The relay answers a
  repeated ``id`` from its record without doing the work twice, so a reply is
  never lost and never sent twice.

docs/protocol.md describes the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)

from core.protocol import PRESENCE_ACTIVITIES, PROTOCOL_VERSION

logger = logging.getLogger(__name__)

# The relay accepts 8 MiB; fetch_media answers with base64 data plus a little JSON.
MAX_FRAME_BYTES = 16 * 1024 * 1024
CLOSE_UNAUTHORIZED = 4401
CLOSE_DISABLED = 4403  # an admin disabled this agent while it was connected
# Relay errors that no retry can fix: stop instead of hammering the relay.
FATAL_CODES = frozenset({"unauthorized", "bad_version", "disabled"})
# Commands whose loss loses nothing an agent did: reads, and marking a ticket read.
# Everything else waiting in the queue is work, which quitting must not drop silently.
# (tests/test_tui_client.py holds this to the relay's list of commands that change nothing:
# a read missing here made quitting ask about "work" while a startup read was in flight.)
NOT_WORK = frozenset({
    "list_tickets", "count_tickets", "get_thread", "fetch_media", "upload_media", "search",
    "list_groups", "list_agents", "list_numbers", "list_accounts", "check_account",
    "troubleshoot", "mark_read", "get_trash_retention", "my_timer", "ticket_time",
    "list_fields", "list_canned", "list_scenarios", "get_contact", "contact_tickets",
    "ticket_activity", "ticket_facts", "get_email_settings", "get_email_channel",
    "send_test_email", "get_bot_flows", "get_business_hours", "ticket_csat", "get_sla_targets",
    "get_report",
})


class ConnectionState(StrEnum):
    CONNECTING = "connecting"  # opening the socket / saying hello
    REPLAYING = "replaying"  # welcome received, catching up on missed events
    LIVE = "live"  # caught_up received, live events flowing
    OFFLINE = "offline"  # connection lost; a retry is scheduled (detail says when)
    REFUSED = "refused"  # the relay refused the token (error 'unauthorized'): no retries
    CLOSED = "closed"  # close() was called


class CommandError(Exception):
    """The relay answered ``error`` for a command; ``str(error)`` is meant for the agent.

    Besides the relay's codes (docs/protocol.md), the client uses ``closed`` and
    ``refused`` for commands that can no longer be sent.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field  # the ticket field a refusal is about, so a form can place it


# --- sans-I/O -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcomed:
    agent: dict[str, Any]
    latest_seq: int
    # The relay has fewer events than we saw (its database was replaced): we lowered
    # last_seq to its latest and must say hello again, or it would skip new events.
    rewound: bool = False


@dataclass(frozen=True, slots=True)
class Deliver:
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CaughtUp:
    seq: int


@dataclass(frozen=True, slots=True)
class Answered:
    id: str
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    id: str
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Presence:
    """Who is viewing or answering which ticket: ephemeral, no seq, never replayed."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something odd the relay said that needs no action beyond a log line."""

    message: str


Output = Welcomed | Deliver | CaughtUp | Answered | Failed | Refused | Presence | Notice


class ClientProtocol:
    """The client's side of the protocol without I/O: frames in, decisions out."""

    def __init__(self, last_seq: int | None = None) -> None:
        # None until the first welcome: a fresh client asks for no history (it
        # loads what it shows with commands), then resumes from the relay's latest.
        self.fresh = last_seq is None
        self.last_seq = last_seq or 0

    def hello(self, token: str) -> str:
        return _encode({"type": "hello", "version": PROTOCOL_VERSION, "token": token,
                        "last_seq": None if self.fresh else self.last_seq})

    @staticmethod
    def command(command_id: str, name: str, args: dict[str, Any]) -> str:
        return _encode({"type": "command", "id": command_id, "name": name, "args": args})

    def receive(self, text: str | bytes) -> Iterator[Output]:
        """What one frame means, lazily.

        ``last_seq`` advances as each ``Deliver`` is taken, so while the caller
        hands an event over, ``last_seq`` is that event's seq, even mid-batch.
        """
        try:
            message = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            yield Notice("the relay sent a frame that is not JSON")
            return
        if not isinstance(message, dict):
            yield Notice("the relay sent a frame that is not a JSON object")
            return
        kind = message.get("type")
        if kind == "event":
            yield from self._events([message])
        elif kind == "events":
            items = message.get("items")
            yield from self._events(items if isinstance(items, list) else [])
        elif kind == "welcome":
            yield self._welcome(message)
        elif kind == "caught_up":
            yield CaughtUp(_int(message.get("seq"), self.last_seq))
        elif kind == "result" and isinstance(message.get("id"), str):
            yield Answered(message["id"], message.get("result"))
        elif kind == "error":
            yield self._error(message)
        elif kind == "presence":
            yield Presence(message)
        else:
            yield Notice(f"the relay sent an unexpected frame of type {kind!r}")

    def _events(self, items: list[Any]) -> Iterator[Output]:
        for item in items:
            if isinstance(item, dict) and item.get("type") == "presence":
                yield Presence(item)  # the relay batches presence with events, in order
                continue
            seq = item.get("seq") if isinstance(item, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool):
                yield Notice("the relay sent an event without a seq")
            elif seq > self.last_seq:  # a replay after a reconnect may repeat some
                self.last_seq = seq
                yield Deliver(item)

    def _welcome(self, message: dict[str, Any]) -> Welcomed:
        latest = _int(message.get("latest_seq"), self.last_seq)
        agent = message.get("agent")
        agent = agent if isinstance(agent, dict) else {}
        if self.fresh:
            self.fresh = False
            self.last_seq = latest
            return Welcomed(agent, latest)
        if latest < self.last_seq:
            self.last_seq = latest
            return Welcomed(agent, latest, rewound=True)
        return Welcomed(agent, latest)

    @staticmethod
    def _error(message: dict[str, Any]) -> Output:
        code = str(message.get("code") or "error")
        text = str(message.get("message") or code)
        command_id = message.get("id")
        if isinstance(command_id, str):
            field = message.get("field")
            return Failed(command_id, code, text, field if isinstance(field, str) else None)
        if code in FATAL_CODES:
            return Refused(code, text)
        return Notice(f"the relay said {code}: {text}")


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def ws_url(url: str) -> str:
    """Accept the relay's web address too: http(s) becomes ws(s), and no path means /ws."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def seconds(delay: float) -> str:
    """A delay as the header shows it: "2 s", "0.5 s", "15 s"."""
    return f"{delay:.2g} s" if delay < 100 else f"{delay:.0f} s"


# --- asyncio --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsent:
    """A command the agent gave that the relay has not answered yet (see ``unsent()``)."""

    name: str
    args: dict[str, Any]


@dataclass(slots=True)
class _Pending:
    frame: str
    future: asyncio.Future[Any]
    sent_on: int = 0  # the connection it was last sent on (0: never sent)
    command: Unsent | None = None


@dataclass(frozen=True, slots=True)
class _Ended:
    reason: str
    reached_live: bool = False
    again_now: bool = False


def _ignore_event(event: dict[str, Any]) -> None:
    """Default ``on_event``."""


def _ignore_state(state: ConnectionState, detail: str) -> None:
    """Default ``on_state``."""


def _ignore_presence(presence: dict[str, Any]) -> None:
    """Default ``on_presence``."""


class RelayClient:
    """The inbox's connection: events in order, exactly once; commands that survive drops.

    Run ``run()`` as a task for the life of the inbox; ``close()`` ends it.
    Callbacks run on the event loop, so they must be quick and must not block.
    ``on_presence`` gets each ``presence`` frame as is; presence is not replayed,
    so forget it when the state leaves LIVE: the relay tells it all again after
    the next ``caught_up``.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        last_seq: int | None = None,
        on_event: Callable[[dict[str, Any]], None] = _ignore_event,
        on_state: Callable[[ConnectionState, str], None] = _ignore_state,
        on_presence: Callable[[dict[str, Any]], None] = _ignore_presence,
        backoff: Sequence[float] = (0.5, 1, 2, 4, 8, 15),
        open_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 10.0,
        jitter: float = 0.1,
    ) -> None:
        if not backoff:
            raise ValueError("backoff needs at least one delay")
        self.url = ws_url(url)
        self.agent: dict[str, Any] | None = None
        self.state = ConnectionState.CONNECTING
        self.detail = ""
        self._token = token
        self._protocol = ClientProtocol(last_seq)
        self._on_event, self._on_state = on_event, on_state
        self._on_presence = on_presence
        self._backoff = tuple(backoff)
        self._open_timeout = open_timeout
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self._jitter = jitter
        # A random prefix keeps ids unique across restarts of the inbox: the relay
        # remembers answers per agent and id, so a reused id would get an old answer.
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._socket: ClientConnection | None = None
        self._connection = 0  # counts welcomes; 0 while none is usable
        self._usable = False  # welcomed on the current socket: commands may go out
        self._closing = asyncio.Event()
        self._retry_now = asyncio.Event()
        self._live = asyncio.Event()
        self._over = asyncio.Event()  # REFUSED or CLOSED
        self._presence: dict[str, Any] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._session: asyncio.Task[_Ended] | None = None
        self._running = False
        self._stopped = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._protocol.last_seq

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, catch up, stay live, and reconnect until ``close()`` or a refusal."""
        if self._running:
            raise RuntimeError("run() is already running")
        self._running = True
        failures = 0
        try:
            while not self._closing.is_set() and self.state is not ConnectionState.REFUSED:
                self._set_state(ConnectionState.CONNECTING, f"connecting to {self._where()}")
                self._session = asyncio.create_task(self._connect_once())
                try:
                    ended = await self._session
                except asyncio.CancelledError:
                    if not self._closing.is_set():
                        raise
                    break
                if self._closing.is_set() or self.state is ConnectionState.REFUSED:
                    break
                if ended.reached_live:
                    failures = 0
                if ended.again_now:
                    continue
                delay = self._delay(failures)
                failures += 1
                self._set_state(ConnectionState.OFFLINE,
                                f"reconnecting in {seconds(delay)} ({ended.reason})")
                await self._pause(delay)
        finally:
            self._session = None
            if self.state is not ConnectionState.REFUSED:
                self._set_state(ConnectionState.CLOSED, "disconnected")
            self._fail_pending()
            self._running = False
            self._stopped.set()

    def retry_now(self) -> None:
        """Cut the wait before the next attempt short (say, the agent pressed a key)."""
        self._retry_now.set()

    async def close(self) -> None:
        """Stop for good: pending commands fail with ``CommandError('closed')``."""
        self._closing.set()
        socket, session = self._socket, self._session
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()
        if session is not None and not session.done():
            session.cancel()
        if self._running:
            await self._stopped.wait()
        elif self.state is not ConnectionState.REFUSED:
            self._set_state(ConnectionState.CLOSED, "disconnected")
            self._fail_pending()

    async def wait_live(self, timeout: float | None = None) -> None:
        """Until LIVE; raises ConnectionError if the client is refused or closed first."""
        async with asyncio.timeout(timeout):
            while not self._live.is_set():
                if self._over.is_set():
                    raise ConnectionError(self.detail)
                live = asyncio.ensure_future(self._live.wait())
                over = asyncio.ensure_future(self._over.wait())
                try:
                    await asyncio.wait((live, over), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    live.cancel()
                    over.cancel()

    # --- commands ---------------------------------------------------------------------

    async def command(self, name: str, /, *, timeout: float | None = None,
                      command_id: str | None = None, **args: Any) -> Any:
        """The command's ``result``, or ``CommandError`` with the relay's code and words.

        While offline the command waits and goes out after the next ``welcome``; one
        sent but unanswered when the connection dropped goes out again with the same
        id. On timeout (or cancellation) the command is dropped: not sent if it had
        not gone yet, and not sent again otherwise; whether the relay did it is then
        unknown, so retry with the same ``command_id`` to be safe.
        """
        if self._over.is_set():
            raise CommandError(str(self.state), self.detail)
        command_id = command_id or f"{self._prefix}-{next(self._counter)}"
        if command_id in self._pending:
            raise ValueError(f"command {command_id!r} is already waiting for an answer")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = _Pending(ClientProtocol.command(command_id, name, args), future,
                           command=Unsent(name, dict(args)))
        self._pending[command_id] = pending
        try:
            async with asyncio.timeout(timeout):
                if self._usable:
                    await self._send(pending)
                return await future
        finally:
            if self._pending.get(command_id) is pending:
                del self._pending[command_id]

    def unsent(self) -> list[Unsent]:
        """The agent's work still waiting for the relay (reads left out), oldest first.

        Quitting now would drop it: the inbox asks before it does.
        """
        return [p.command for p in self._pending.values()
                if p.command is not None and p.command.name not in NOT_WORK
                and not p.future.done()]

    async def until_sent(self) -> None:
        """Until every command counted by ``unsent()`` has its answer (or failed)."""
        while True:
            waiting = [p.future for p in self._pending.values()
                       if p.command is not None and p.command.name not in NOT_WORK
                       and not p.future.done()]
            if not waiting:
                return
            await asyncio.wait(waiting)

    def announce(self, ticket_id: int | None, activity: str = "viewing") -> None:
        """Tell the other agents which ticket this agent views or answers (None: none).

        The relay forgets a connection's presence when it drops, so the latest
        announcement is said again after every reconnect. Fire and forget: only
        the newest matters, and an older one is never worth waiting for.
        """
        if activity not in PRESENCE_ACTIVITIES:
            raise ValueError(f"activity is one of {', '.join(PRESENCE_ACTIVITIES)}")
        self._presence = {"activity": activity, "ticket_id": ticket_id}
        if self._usable:
            task = asyncio.create_task(self._send_presence())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _send_presence(self) -> None:
        socket = self._socket
        if socket is None or self._presence is None:
            return
        command_id = f"{self._prefix}-p{next(self._counter)}"
        with contextlib.suppress(ConnectionClosed):  # said again after the reconnect
            await socket.send(ClientProtocol.command(command_id, "presence", self._presence))

    async def _send(self, pending: _Pending) -> None:
        socket = self._socket
        if socket is None or pending.sent_on == self._connection or pending.future.done():
            return
        pending.sent_on = self._connection  # before the await: sent once per connection
        with contextlib.suppress(ConnectionClosed):  # the reader notices and resends later
            await socket.send(pending.frame)

    def _fail_pending(self) -> None:
        error = CommandError(str(self.state), self.detail or "disconnected")
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()

    # --- one connection ---------------------------------------------------------------

    async def _connect_once(self) -> _Ended:
        try:
            socket = await connect(
                self.url, open_timeout=self._open_timeout, max_size=MAX_FRAME_BYTES,
                ping_interval=self._ping_interval, ping_timeout=self._ping_timeout,
                close_timeout=min(1.0, self._open_timeout),
            )
        except (OSError, TimeoutError, WebSocketException) as problem:
            return _Ended(_why_not_connected(problem, self._open_timeout))
        self._socket = socket
        reached_live = False
        try:
            await socket.send(self._protocol.hello(self._token))
            async with asyncio.timeout(self._open_timeout):  # a relay that never welcomes
                frame = await socket.recv()
            while True:
                for output in self._protocol.receive(frame):
                    ended = await self._handle(output)
                    if ended is not None:
                        return ended
                reached_live = reached_live or self.state is ConnectionState.LIVE
                frame = await socket.recv()
        except TimeoutError:
            return _Ended(f"no welcome within {seconds(self._open_timeout)}", reached_live)
        except ConnectionClosed as closed:
            reached_live = reached_live or self.state is ConnectionState.LIVE
            if closed.rcvd is not None and closed.rcvd.code == CLOSE_UNAUTHORIZED:
                self._refuse("relay refused the token")
            elif closed.rcvd is not None and closed.rcvd.code == CLOSE_DISABLED:
                self._refuse(f"relay refused: {closed.rcvd.reason or 'this agent was disabled'}")
            return _Ended(_why_closed(closed), reached_live)
        finally:
            self._socket = None
            self._usable = False
            self._live.clear()
            await socket.close()

    async def _handle(self, output: Output) -> _Ended | None:
        """Act on one decision; an ``_Ended`` means this connection is over."""
        if isinstance(output, Deliver):
            self._call(self._on_event, output.event)
        elif isinstance(output, Welcomed):
            if output.rewound:
                logger.warning("the relay's history ends at #%d, before what we saw; "
                               "saying hello again from there", output.latest_seq)
                return _Ended("the relay's history was reset", again_now=True)
            self.agent = output.agent
            self._connection += 1
            self._usable = True
            behind = max(0, output.latest_seq - self.last_seq)
            self._set_state(ConnectionState.REPLAYING,
                            f"catching up on {behind} event{'' if behind == 1 else 's'}")
            for pending in list(self._pending.values()):
                await self._send(pending)
            if self._presence is not None and self._presence["ticket_id"] is not None:
                await self._send_presence()
        elif isinstance(output, CaughtUp):
            name = (self.agent or {}).get("name")
            self._set_state(ConnectionState.LIVE, f"connected as {name}" if name else "connected")
        elif isinstance(output, Answered | Failed):
            self._settle(output)
        elif isinstance(output, Presence):
            self._call(self._on_presence, output.message)
        elif isinstance(output, Refused):
            self._refuse(f"relay refused the token: {output.message}"
                         if output.code == "unauthorized" else f"relay refused: {output.message}")
            return _Ended(output.message)
        else:
            logger.warning("%s", output.message)
        return None

    def _settle(self, answer: Answered | Failed) -> None:
        pending = self._pending.pop(answer.id, None)
        if pending is None or pending.future.done():
            if isinstance(answer, Failed):
                logger.warning("the relay refused %s: %s", answer.id, answer.message)
        elif isinstance(answer, Answered):
            pending.future.set_result(answer.result)
        else:
            pending.future.set_exception(CommandError(answer.code, answer.message, answer.field))

    def _refuse(self, detail: str) -> None:
        if self.state is not ConnectionState.REFUSED:
            self._set_state(ConnectionState.REFUSED, detail)

    # --- helpers ----------------------------------------------------------------------

    def _set_state(self, state: ConnectionState, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        if state is ConnectionState.LIVE:
            self._live.set()
        else:
            self._live.clear()
        if state in (ConnectionState.REFUSED, ConnectionState.CLOSED):
            self._over.set()
        self._call(self._on_state, state, detail)

    @staticmethod
    def _call(callback: Callable[..., None], *args: Any) -> None:
        """A broken callback must not take the connection down with it."""
        try:
            callback(*args)
        except Exception:
            logger.exception("the relay client's %s callback failed",
                             getattr(callback, "__name__", "?"))

    def _delay(self, failures: int) -> float:
        base = self._backoff[min(failures, len(self._backoff) - 1)]
        return base + random.uniform(0, base * self._jitter) if self._jitter else base

    async def _pause(self, delay: float) -> None:
        self._retry_now.clear()
        closing = asyncio.ensure_future(self._closing.wait())
        retry = asyncio.ensure_future(self._retry_now.wait())
        try:
            await asyncio.wait((closing, retry), timeout=delay,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            retry.cancel()

    def _where(self) -> str:
        return urlsplit(self.url).netloc or self.url


def _why_not_connected(problem: Exception, open_timeout: float) -> str:
    if isinstance(problem, ConnectionRefusedError):
        return "connection refused"
    if isinstance(problem, TimeoutError):
        return f"no answer within {seconds(open_timeout)}"
    if isinstance(problem, InvalidStatus):
        return f"the relay answered HTTP {problem.response.status_code}"
    if isinstance(problem, InvalidURI):
        return "the relay address is not valid"
    if isinstance(problem, OSError):
        if problem.strerror:
            return problem.strerror.lower()
        # asyncio folds one failure per address (IPv6 and IPv4) into a single message.
        return "connection refused" if "refused" in str(problem) else "cannot reach the relay"
    return str(problem) or type(problem).__name__


def _why_closed(closed: ConnectionClosed) -> str:
    if closed.rcvd is None:
        if closed.sent is not None and "ping" in closed.sent.reason:
            return "the relay stopped answering"
        return "connection lost"
    if closed.rcvd.code in (1001, 1012):  # going away, service restart
        return "the relay is restarting"
    if closed.rcvd.reason:
        return f"the relay closed the connection: {closed.rcvd.reason}"
    return "the relay closed the connection"


__all__ = [
    "Answered",
    "CaughtUp",
    "ClientProtocol",
    "CommandError",
    "ConnectionState",
    "Deliver",
    "Failed",
    "Notice",
    "Output",
    "Presence",
    "Refused",
    "RelayClient",
    "Unsent",
    "Welcomed",
    "ws_url",
]
