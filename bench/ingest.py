"""Relay ingest benchmark: Twilio webhooks in, agents' websocket events out, on loopback.

    .venv/bin/python bench/ingest.py [--webhooks 20000] [--clients 50] [--concurrency 64]
                                     [--rate 500] [--seconds 10] [--no-deflate]
                                     [--profile relay.pstats]
                                     [--pg | --database postgresql://...] [--relays N]

Why: an inbound text is only useful once every agent's inbox shows it, and
Twilio retries (and eventually gives up on) a webhook that is not answered
quickly. So the figures that matter are how many webhooks per second the relay
acknowledges, and how long it takes from Twilio sending a webhook until each
connected agent has the event, measured end to end through real sockets.

What runs, every piece in its own process so that none of them steals the
event loop of another (the clocks agree: ``time.monotonic_ns`` is
CLOCK_MONOTONIC, shared by every process on Linux):

* the real relay (``server.relay.running_relay``: the SQLite store with
  ``synchronous=FULL`` in a temporary directory, uvicorn with h11 and
  websockets-sansio), seeded like the end-to-end tests (``tests.relay_harness``);
* a bare uvicorn/h11 ASGI app that reads the same POST and answers the same
  empty TwiML without storing anything: the ceiling for this HTTP stack;
* ``--clients`` agents on the websocket (the ``websockets`` client, with its
  default permessage-deflate, as an agent's inbox would connect), each one
  saying hello and waiting for ``caught_up`` before any webhook is sent;
* the load generator, here: a minimal HTTP/1.1 client on asyncio streams with
  keep-alive connections, sending pre-built, correctly signed
  ``/twilio/inbound`` forms (distinct MessageSids, 5,000 different customers).

Phases, in order:

1. bare app, closed loop with ``--concurrency`` connections: webhooks/s;
2. relay with no agent connected, same load: webhooks/s (ingest alone);
3. relay with ``--clients`` agents, same load: webhooks/s (the figure compared
   with the bare app; target ≥ 80 %), and the latency from just before each
   webhook is written to the socket until each agent receives its event
   (matched by ``payload.message.twilio_sid``), p50/p99 over every
   (webhook, agent) pair, and whether every agent got every event exactly once;
4. relay with the agents, open loop at ``--rate`` webhooks/s for ``--seconds``
   (each webhook is sent at its scheduled time on an idle connection, a new
   one if none is idle, so a slow answer never delays the next send): p50/p99
   webhook→agent latency (target p99 < 10 ms at 500/s) and p99 of the ack.

An agent cut off by the relay for being too slow (close 4008) reconnects with
its last ``seq`` and resumes, as the inbox does; the replayed events count, so
"exactly once" checks the resume too. Each run also says how much CPU the
server used (its event-loop thread, its other threads: SQLite's) and the load
generator and agents beside it, from /proc: on a small machine they share the
cores, and a server below 100 % in its event loop is waiting, not working.
``--no-deflate`` connects the agents without permessage-deflate, to see what
compression costs. ``--profile FILE`` runs the relay under cProfile (its
event-loop thread only; the figures are then not representative) and prints
the top functions. The store lives under ``$TMPDIR``.

PostgreSQL: ``--database URL`` runs the relay on that database instead (an empty
one: the bench seeds it), ``--pg`` on a fresh database in a throwaway cluster it
starts itself (``tests/pg_cluster.py``, durable: fsync and synchronous commit on,
as SQLite's FULL sync) and stops at the end. ``--relays N`` then runs N relay
processes on the database, as behind a load balancer: webhook i goes to relay
i mod N (each signed for that relay's URL), agent i connects to relay i mod N, so
most events reach their agent through another relay (NOTIFY). The CPU lines then
add up over the relays, and each run says the CPU per acknowledged webhook (µs),
the figure that compares the bare app, SQLite, and one or several relays; with
``--pg`` also the PostgreSQL server's own (all its processes, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import math
import os
import pstats
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvicorn
import websockets
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve()
sys.path.insert(0, str(ROOT))  # the project's modules are imported where they are used
sys.path.insert(0, str(ROOT / "tests"))  # pg_cluster, for --pg

HOST = "127.0.0.1"
INBOUND = "/twilio/inbound"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
CUSTOMERS = 5_000
PROFILE_ENV = "SMSDESK_BENCH_PROFILE"
TOKEN_ENV = "SMSDESK_BENCH_AGENT_TOKEN"
DATABASE_ENV = "SMSDESK_BENCH_DATABASE"  # the relays' PostgreSQL URL: not in `ps` output
START_TIMEOUT = 30.0
MAX_EXTRA_CONNECTIONS = 1000  # open loop: beyond the pool, at most this many more
DRAIN_IDLE = 5.0  # the agents count as done once nothing has arrived for this long
WARMUP_TAG, BARE_TAG, INGEST_TAG, FANOUT_TAG, RATE_TAG = 0, 1, 2, 3, 4
BODIES = (
    "Hi, has order {n} shipped yet?",
    "Can I change the delivery address for {n}?",
    "Thanks, the package arrived today",
    "I was charged twice for invoice {n}",
    "What time do you open tomorrow?",
    "My code {n} says it has expired",
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- child processes: the relay, the bare app, the agents -----------------------------


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """The parent's commands, one per line; None when it closes stdin (or dies)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return queue


async def _until_stdin_closes(server: uvicorn.Server) -> None:
    lines = _stdin_lines(asyncio.get_running_loop())
    while await lines.get() is not None and not server.should_exit:
        pass


async def serve_relay(home: Path, port: int, url: str | None) -> None:
    """The real relay, on a store the parent has seeded (SQLite in ``home``, or the
    PostgreSQL database at ``url``), until stdin closes."""
    from server.config import Paths
    from server.relay import running_relay

    async with running_relay(Paths(home, url), public_url=f"http://{HOST}:{port}", host=HOST,
                             port=port) as (_, server):
        await _until_stdin_closes(server)


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, answer the relay's empty TwiML; nothing else."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/xml"), (b"content-length", str(len(EMPTY_TWIML)).encode()),
    ]})
    await send({"type": "http.response.body", "body": EMPTY_TWIML})


async def serve_bare(port: int) -> None:
    config = uvicorn.Config(bare_app, host=HOST, port=port, http="h11", ws="none",
                            lifespan="off", log_level="warning", timeout_keep_alive=5,
                            h11_max_incomplete_event_size=16 * 1024)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await _until_stdin_closes(server)
    server.should_exit = True
    await serving


EVENT_PREFIX = '{"type":"event","seq":'
EVENTS_PREFIX = '{"type":"events",'
SID_KEY = '"twilio_sid":"SM'


@dataclass
class Phase:
    """What the agents received for one tagged batch of webhooks."""

    count: int
    received: list[array[int]]  # per agent: receipt time (ns) by webhook index, 0 if none
    duplicates: int = 0
    filled: int = 0


@dataclass
class Agents:
    urls: list[str]  # agent i connects to urls[i % len(urls)]: one per relay
    token: str
    deflate: bool
    phases: dict[int, Phase] = field(default_factory=dict)
    reconnects: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)
    last_arrival: int = 0

    def record(self, agent: int, text: str, at: int) -> None:
        """Note one event, found by its MessageSid without decoding the whole JSON."""
        found = text.find(SID_KEY)
        if found < 0:
            return
        sid = text[found + len(SID_KEY): found + len(SID_KEY) + 32]
        phase = self.phases.get(int(sid[:8], 16))
        index = int(sid[8:], 16)
        if phase is None or index >= phase.count:
            return
        self.last_arrival = at
        slots = phase.received[agent]
        if slots[index]:
            phase.duplicates += 1
        else:
            slots[index] = at
            phase.filled += 1

    async def run(self, agent: int, last_seq: int, ready: asyncio.Event) -> None:
        """One agent: hello, replay, live events; on a close, reconnect and resume."""
        while True:
            try:
                async with websockets.connect(
                    self.urls[agent % len(self.urls)], proxy=None, max_size=None, open_timeout=30,
                    compression="deflate" if self.deflate else None,
                ) as ws:
                    await ws.send(json.dumps({"type": "hello", "version": 1,
                                              "token": self.token, "last_seq": last_seq}))
                    async for text in ws:
                        at = time.monotonic_ns()
                        assert isinstance(text, str)
                        if text.startswith(EVENT_PREFIX):
                            end = text.index(",", len(EVENT_PREFIX))
                            last_seq = int(text[len(EVENT_PREFIX): end])
                            self.record(agent, text, at)
                        elif text.startswith(EVENTS_PREFIX):
                            # Several events in one frame: find them by their prefix
                            # rather than decoding the JSON (the agents share the CPU).
                            start = text.find(EVENT_PREFIX)
                            while start >= 0:
                                following = text.find(EVENT_PREFIX, start + 1)
                                one = text[start: following if following > 0 else len(text)]
                                end = one.index(",", len(EVENT_PREFIX))
                                last_seq = int(one[len(EVENT_PREFIX): end])
                                self.record(agent, one, at)
                                start = following
                        elif text.startswith('{"type":"caught_up"'):
                            ready.set()
                        elif text.startswith('{"type":"error"'):
                            print(f"agent {agent}: {text}", file=sys.stderr)
            except websockets.ConnectionClosed as closed:
                self.close_codes[closed.rcvd.code if closed.rcvd else 1006] += 1
            except OSError:
                self.close_codes[1006] += 1
            else:
                self.close_codes[1000] += 1
            self.reconnects += 1
            await asyncio.sleep(0.05)


async def serve_agents(urls: list[str], token: str, count: int, last_seq: int, out: Path,
                       deflate: bool) -> None:
    """``count`` agents; stdin commands ``expect TAG N`` and ``collect TAG``, one line each.

    ``collect`` waits until every agent has every event of that tag, or until
    nothing has arrived for DRAIN_IDLE seconds, writes the receipt times to
    ``out/TAG.bin`` (agent after agent) and answers with a JSON summary.
    """
    agents = Agents(urls, token, deflate)
    ready = [asyncio.Event() for _ in range(count)]
    running = [asyncio.create_task(agents.run(i, last_seq, ready[i])) for i in range(count)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), START_TIMEOUT)
    print("READY", flush=True)
    lines = _stdin_lines(asyncio.get_running_loop())
    while (line := await lines.get()) is not None:
        verb, *rest = line.split()
        if verb == "expect":
            tag, size = int(rest[0]), int(rest[1])
            agents.phases[tag] = Phase(size, [array("q", bytes(8 * size)) for _ in range(count)])
            print("OK", flush=True)
        elif verb == "collect":
            phase = agents.phases[int(rest[0])]
            started = time.monotonic_ns()
            while phase.filled < phase.count * count:
                idle_since = max(started, agents.last_arrival)
                if time.monotonic_ns() - idle_since > DRAIN_IDLE * 1e9:
                    break
                await asyncio.sleep(0.05)
            with open(out / f"{rest[0]}.bin", "wb") as file:
                for slots in phase.received:
                    file.write(slots.tobytes())
            print("DONE " + json.dumps({
                "duplicates": phase.duplicates, "reconnects": agents.reconnects,
                "close_codes": dict(agents.close_codes),
            }), flush=True)
    for task in running:
        task.cancel()


def child_main(argv: list[str]) -> None:
    """Entry of the helper processes (``--serve-relay``, ``--serve-bare``, ``--serve-agents``)."""
    mode, args = argv[0], argv[1:]
    if mode == "--serve-relay":
        run: Coroutine[Any, Any, None] = serve_relay(Path(args[0]), int(args[1]),
                                                     os.environ.get(DATABASE_ENV))
    elif mode == "--serve-bare":
        run = serve_bare(int(args[0]))
    else:
        run = serve_agents(args[0].split(","), os.environ[TOKEN_ENV], int(args[1]), int(args[2]),
                           Path(args[3]), args[4] == "deflate")
    profile_to = os.environ.get(PROFILE_ENV) if mode == "--serve-relay" else None
    if not profile_to:
        asyncio.run(run)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(run)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


# --- the load generator ---------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: one request at a time, no pipelining."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reusable = True

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)  # asyncio sets TCP_NODELAY on TCP sockets

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > 65536:
            await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked = -1, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection" and value == b"close":
                self.reusable = False
        if chunked:
            body = await self._chunked()
        elif length >= 0:
            body = await self.reader.readexactly(length)
        else:
            body, self.reusable = await self.reader.read(), False
        return status, body

    async def _chunked(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        return b"".join(part[:-2] for part in parts)

    def close(self) -> None:
        self.writer.close()


async def send_one(conn: HttpConnection, port: int, data: bytes) -> tuple[HttpConnection, int]:
    """Send on ``conn``, or on a new connection if it turns out to be dead (once)."""
    for attempt in (1, 2):
        if not conn.reusable or conn.writer.is_closing():
            conn.close()
            conn = await HttpConnection.open(port)
        try:
            status, _ = await conn.request(data)
            return conn, status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.reusable = False
            if attempt == 2:
                return conn, 0
    raise AssertionError("unreachable")


@dataclass
class Load:
    """When each webhook was sent and acknowledged (monotonic ns), and how."""

    sent: array[int]
    acked: array[int]
    status: array[int]
    lag: array[int] | None = None  # open loop: how late each send was against its schedule
    extra_connections: int = 0

    @classmethod
    def of(cls, count: int) -> Load:
        return cls(array("q", bytes(8 * count)), array("q", bytes(8 * count)),
                   array("h", bytes(2 * count)))

    @property
    def ok(self) -> int:
        return sum(1 for code in self.status if code == 200)

    @property
    def seconds(self) -> float:
        return (max(self.acked) - min(self.sent)) / 1e9

    def ack_ms(self) -> list[float]:
        return [(a - s) / 1e6 for a, s, c in zip(self.acked, self.sent, self.status, strict=True)
                if c == 200]


async def closed_loop(ports: list[int], requests: list[bytes], concurrency: int) -> Load:
    """Each connection sends its next webhook as soon as the last one is answered.

    Webhook i goes to ``ports[i % len(ports)]`` (round robin over the relays), and
    connection j to ``ports[j % len(ports)]``, taking its server's next webhook.
    """
    load = Load.of(len(requests))
    conns = await asyncio.gather(*(HttpConnection.open(ports[j % len(ports)])
                                   for j in range(concurrency)))
    indexes: list[Iterator[int]] = [iter(range(k, len(requests), len(ports)))
                                    for k in range(len(ports))]

    async def worker(k: int, conn: HttpConnection) -> None:
        for i in indexes[k]:  # shared: each index is taken by exactly one worker
            load.sent[i] = time.monotonic_ns()
            conn, load.status[i] = await send_one(conn, ports[k], requests[i])
            load.acked[i] = time.monotonic_ns()
        conn.close()

    await asyncio.gather(*(worker(j % len(ports), conn) for j, conn in enumerate(conns)))
    return load


async def open_loop(ports: list[int], requests: list[bytes], rate: float, pool: int) -> Load:
    """Send webhook i at start + i/rate, to ``ports[i % len(ports)]``, whatever happened
    to the earlier ones."""
    load = Load.of(len(requests))
    load.lag = array("q", bytes(8 * len(requests)))
    idles = [list(await asyncio.gather(*(HttpConnection.open(port)
                                         for _ in range(max(1, pool // len(ports))))))
             for port in ports]
    every = 1e9 / rate

    async def one(i: int, port: int, conn: HttpConnection) -> None:
        load.sent[i] = time.monotonic_ns()
        conn, load.status[i] = await send_one(conn, port, requests[i])
        load.acked[i] = time.monotonic_ns()
        idles[i % len(ports)].append(conn)

    tasks = []
    start = time.monotonic_ns() + 20_000_000
    for i in range(len(requests)):
        port, idle = ports[i % len(ports)], idles[i % len(ports)]
        due = start + int(i * every)
        wait = due - time.monotonic_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)
        while not idle and load.extra_connections >= MAX_EXTRA_CONNECTIONS:
            await asyncio.sleep(0.001)  # too far behind: the lag below shows it
        if idle:
            conn = idle.pop()
        else:
            conn = await HttpConnection.open(port)
            load.extra_connections += 1
        load.lag[i] = time.monotonic_ns() - due
        tasks.append(asyncio.create_task(one(i, port, conn)))
    await asyncio.gather(*tasks)
    for conn in (conn for idle in idles for conn in idle):
        conn.close()
    return load


def webhooks(tag: int, count: int, ports: list[int], account_sid: str, auth_token: str,
             to: str) -> list[bytes]:
    """Signed inbound-text requests as Twilio sends them, MessageSid SM<tag:8x><index:24x>;
    request i is for ``ports[i % len(ports)]`` (each relay's public URL is its own)."""
    rng = random.Random(tag)
    validator = RequestValidator(auth_token)
    requests = []
    for i in range(count):
        port = ports[i % len(ports)]
        url = f"http://{HOST}:{port}{INBOUND}"
        sid = f"SM{tag:08x}{i:024x}"
        customer = rng.randrange(CUSTOMERS)
        params = {
            "ToCountry": "US", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "20001", "SmsSid": sid, "FromState": "DC",
            "SmsStatus": "received", "FromCity": "WASHINGTON",
            "Body": rng.choice(BODIES).format(n=rng.randrange(10_000, 99_999)),
            "FromCountry": "US", "To": to, "ToZip": "", "NumSegments": "1",
            "MessageSid": sid, "AccountSid": account_sid, "From": f"+1202555{customer:04d}",
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(params).encode()
        head = (f"POST {INBOUND} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {validator.compute_signature(url, params)}\r\n"
                "User-Agent: TwilioProxy/1.1\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


# --- the parent: processes, phases, report ---------------------------------------------


class Child:
    """A helper process in its own session (Ctrl+C reaches only us), stopped by closing stdin."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1, start_new_session=True, cwd=ROOT, env=env,
        )

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    async def line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not text:
            raise RuntimeError(f"the {self.name} exited (code {self.proc.wait()})")
        return text.strip()

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time of a process so far: its main (event-loop) thread, and all its other threads."""
    tick = os.sysconf("SC_CLK_TCK")
    main = others = 0.0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            if task.name == str(pid):
                main += used
            else:
                others += used
    return main, others


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all bound at once, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


async def wait_ready(child: Child, port: int, path: str) -> int:
    """Poll GET ``path`` until it answers 200; the relay's /healthz gives its latest seq."""
    deadline = time.monotonic() + START_TIMEOUT
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    while True:
        if child.proc.poll() is not None:
            raise RuntimeError(f"the {child.name} exited (code {child.proc.returncode})")
        try:
            conn = await HttpConnection.open(port)
            try:
                status, body = await conn.request(request)
            finally:
                conn.close()
            if status == 200:
                return int(json.loads(body).get("seq", 0)) if body.startswith(b"{") else 0
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {child.name} did not start on port {port}")
        await asyncio.sleep(0.05)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


@dataclass
class Delivery:
    latencies_ms: list[float]  # sorted, one per (acknowledged webhook, agent) received
    missed: int
    duplicates: int
    last_arrival: int
    reconnects: int
    close_codes: dict[str, int]


class AgentsProcess:
    def __init__(self, child: Child, count: int, out: Path) -> None:
        self.child, self.count, self.out = child, count, out

    async def expect(self, tag: int, size: int) -> None:
        self.child.tell(f"expect {tag} {size}")
        if (answer := await self.child.line(10)) != "OK":
            raise RuntimeError(f"agents said {answer!r}")

    async def collect(self, tag: int, load: Load) -> Delivery:
        self.child.tell(f"collect {tag}")
        answer = await self.child.line(600)
        if not answer.startswith("DONE "):
            raise RuntimeError(f"agents said {answer!r}")
        summary = json.loads(answer[5:])
        received = array("q")
        received.frombytes((self.out / f"{tag}.bin").read_bytes())
        size = len(load.sent)
        latencies, missed, last = [], 0, 0
        for agent in range(self.count):
            slots = received[agent * size: (agent + 1) * size]
            for at, sent, status in zip(slots, load.sent, load.status, strict=True):
                if at:
                    latencies.append((at - sent) / 1e6)
                    last = max(last, at)
                elif status == 200:
                    missed += 1
        latencies.sort()
        return Delivery(latencies, missed, summary["duplicates"], last, summary["reconnects"],
                        summary["close_codes"])


def line(label: str, text: str) -> None:
    print(f"{label:<34}{text}", flush=True)


def report_delivery(delivery: Delivery, load: Load, clients: int, target: str = "") -> None:
    lat = delivery.latencies_ms
    span = (delivery.last_arrival - min(load.sent)) / 1e9 if delivery.last_arrival else 0.0
    line("  events delivered", f"{len(lat):,} of {load.ok * clients:,} in {span:.1f} s"
         f" ({len(lat) / span if span else 0:,.0f} events/s)")
    line("  webhook→agent latency", f"p50 {percentile(lat, 0.5):.1f} ms, "
         f"p99 {percentile(lat, 0.99):.1f} ms, max {lat[-1] if lat else 0:.1f} ms{target}")
    codes = ", ".join(f"{k}×{v}" for k, v in sorted(delivery.close_codes.items()))
    line("  exactly once", f"{delivery.missed} missed, {delivery.duplicates} duplicated, "
         f"{delivery.reconnects} reconnects{f' (close codes {codes})' if codes else ''}")


def report_load(label: str, load: Load, bare: float | None = None) -> float:
    per_second = load.ok / load.seconds
    versus = f" = {100 * per_second / bare:.0f}% of bare" if bare else ""
    acks = sorted(load.ack_ms())
    line(label, f"{per_second:,.0f} webhooks/s{versus} ({load.ok:,} ok, "
         f"{len(load.status) - load.ok} failed, {load.seconds:.1f} s); ack p50 "
         f"{percentile(acks, 0.5):.1f} ms, p99 {percentile(acks, 0.99):.1f} ms")
    return per_second


def cluster_cpu_seconds(postmaster: int) -> float:
    """CPU time of a PostgreSQL server so far: the postmaster, its live processes (the
    relays' backends, the WAL writer, the checkpointer...) and those that have ended (their
    time is in the postmaster's cutime and cstime once reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(proc.name) == postmaster:
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
    return total / tick


def postmaster_pid(data: Path) -> int:
    """The server's main process, from the first line of its ``postmaster.pid``."""
    return int((data / "postmaster.pid").read_text().split()[0])


async def with_cpu(servers: list[Child], run: Awaitable[Load], agents: Child | None = None,
                   postmaster: int | None = None) -> tuple[Load, list[tuple[str, str]]]:
    """Run a load and say how busy the servers (and the rest) were meanwhile, in % of a
    core, and their CPU per acknowledged webhook: the figure that compares stores and
    numbers of relays (with several relays, or PostgreSQL's own processes, % of a core
    adds up over processes; µs per webhook says what each webhook cost in all)."""
    started, ours = time.monotonic(), time.process_time()
    before = [cpu_seconds(server.proc.pid) for server in servers]
    theirs = sum(cpu_seconds(agents.proc.pid)) if agents else 0.0
    database = cluster_cpu_seconds(postmaster) if postmaster else 0.0
    load = await run
    wall = time.monotonic() - started
    after = [cpu_seconds(server.proc.pid) for server in servers]
    main = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
    others = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
    ours = (time.process_time() - ours) / wall * 100
    ok = max(load.ok, 1)
    rest = f"load generator {ours:.0f}%"
    if agents:
        rest += f", agents {(sum(cpu_seconds(agents.proc.pid)) - theirs) / wall * 100:.0f}%"
    where = ("its event loop", "other threads") if len(servers) == 1 else (
        f"their {len(servers)} event loops", "their other threads")
    lines = [("", f"{(main + others) / ok * 1e6:,.0f} µs CPU per webhook: "
              f"{main / wall * 100:.0f}% in {where[0]}, {others / wall * 100:.0f}% in "
              f"{where[1]} ({rest})")]
    if postmaster:
        database = cluster_cpu_seconds(postmaster) - database
        lines.append(("  PostgreSQL server CPU", f"{database / ok * 1e6:,.0f} µs per webhook, "
                      f"{database / wall * 100:.0f}% (all its processes)"))
    return load, lines


def show_cpu(label: str, lines: list[tuple[str, str]]) -> None:
    """The lines ``with_cpu`` made, the first under ``label``."""
    for name, text in lines:
        line(name or label, text)


async def bench(args: argparse.Namespace, tmp: Path, children: list[Child],
                database: str | None = None, postmaster: int | None = None) -> None:
    """The four phases; on PostgreSQL (``database``), ``args.relays`` relays share it."""
    from server.config import Paths, masked
    from tests.relay_harness import ACCOUNT_SID, AUTH_TOKEN, US_TOLL_FREE, seed

    out = tmp / "agents"
    out.mkdir()
    homes = [tmp / ("relay" if k == 0 else f"relay{k + 1}") for k in range(args.relays)]
    _, agent_token = await seed(Paths(homes[0], database).store)
    *relay_ports, bare_port = free_ports(args.relays + 1)
    env = dict(os.environ)
    if database:
        env[DATABASE_ENV] = database
    relays = []
    for k, (home, port) in enumerate(zip(homes, relay_ports, strict=True)):
        relay_env = dict(env)
        if args.profile and k == 0:  # the first relay only: one profile file
            relay_env[PROFILE_ENV] = str(Path(args.profile).resolve())
        relays.append(Child("relay" if args.relays == 1 else f"relay {k + 1}",
                            ["--serve-relay", str(home), str(port)], relay_env))
        children.append(relays[-1])
    bare = Child("bare app", ["--serve-bare", str(bare_port)])
    children.append(bare)
    await wait_ready(bare, bare_port, "/")
    for relay, port in zip(relays, relay_ports, strict=True):
        await wait_ready(relay, port, "/healthz")
    name = "relay" if args.relays == 1 else f"{args.relays} relays"

    def signed(tag: int, count: int, ports: list[int]) -> list[bytes]:
        return webhooks(tag, count, ports, ACCOUNT_SID, AUTH_TOKEN, US_TOLL_FREE)

    warmup = min(1000, max(args.webhooks // 10, 1))
    spread = " round robin" if args.relays > 1 else ""
    store = f"PostgreSQL at {masked(database)}, {name}{spread}" if database else f"store in {tmp}"
    line("smsdesk ingest bench", f"{args.webhooks:,} webhooks, concurrency {args.concurrency},"
         f" {args.clients} agents, {os.cpu_count()} CPUs, {store}")

    await closed_loop([bare_port], signed(WARMUP_TAG, warmup, [bare_port]), args.concurrency)
    load, cpu = await with_cpu([bare], closed_loop(
        [bare_port], signed(BARE_TAG, args.webhooks, [bare_port]), args.concurrency))
    bare_rate = report_load("bare uvicorn/h11 app", load)
    show_cpu("  server CPU", cpu)
    bare.stop()

    await closed_loop(relay_ports, signed(WARMUP_TAG, warmup, relay_ports), args.concurrency)
    load, cpu = await with_cpu(relays, closed_loop(
        relay_ports, signed(INGEST_TAG, args.webhooks, relay_ports), args.concurrency),
        postmaster=postmaster)
    report_load(f"{name}, no agents", load, bare_rate)
    show_cpu(f"  {name} CPU", cpu)

    latest = await wait_ready(relays[0], relay_ports[0], "/healthz")
    urls = ",".join(f"ws://{HOST}:{port}/ws" for port in relay_ports)  # agent i: relay i % N
    child = Child("agents", ["--serve-agents", urls,
                             str(args.clients), str(latest), str(out),
                             "none" if args.no_deflate else "deflate"],
                  {**os.environ, TOKEN_ENV: agent_token})  # not in `ps` output
    children.append(child)
    await child.line(START_TIMEOUT + 5)  # READY: all connected and caught up
    agents = AgentsProcess(child, args.clients, out)

    requests = signed(FANOUT_TAG, args.webhooks, relay_ports)
    await agents.expect(FANOUT_TAG, args.webhooks)
    load, cpu = await with_cpu(relays, closed_loop(relay_ports, requests, args.concurrency),
                               child, postmaster=postmaster)
    report_load(f"{name}, {args.clients} agents", load, bare_rate)
    show_cpu(f"  {name} CPU", cpu)
    report_delivery(await agents.collect(FANOUT_TAG, load), load, args.clients)

    count = int(args.rate * args.seconds)
    requests = signed(RATE_TAG, count, relay_ports)
    await agents.expect(RATE_TAG, count)
    load, cpu = await with_cpu(relays, open_loop(relay_ports, requests, args.rate,
                                                 args.concurrency), child, postmaster=postmaster)
    assert load.lag is not None
    lags = sorted(lag / 1e6 for lag in load.lag)
    line(f"{name} at {args.rate:g}/s for {args.seconds:g} s",
         f"{load.ok:,} ok of {count:,}, {load.ok / load.seconds:,.0f} webhooks/s achieved; "
         f"pacing lag p99 {percentile(lags, 0.99):.1f} ms, "
         f"{load.extra_connections} extra connections")
    show_cpu(f"  {name} CPU", cpu)
    acks = sorted(load.ack_ms())
    line("  webhook ack", f"p50 {percentile(acks, 0.5):.1f} ms, p99 "
         f"{percentile(acks, 0.99):.1f} ms, max {acks[-1] if acks else 0:.1f} ms")
    report_delivery(await agents.collect(RATE_TAG, load), load, args.clients,
                    " (target p99 < 10 ms)")


def throwaway_cluster() -> Any:
    """A PostgreSQL cluster of our own (tests/pg_cluster.py), durable so that every
    commit is flushed as on a real server: a fair comparison with SQLite's FULL sync."""
    from pg_cluster import PgCluster

    return PgCluster.start(durable=True)


def print_profile(path: str, top: int = 30) -> None:
    print(f"\nrelay profile ({path}), event-loop thread, top {top} by own time:")
    pstats.Stats(path).sort_stats("tottime").print_stats(top)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--serve-relay", "--serve-bare", "--serve-agents"):
        child_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=20_000,
                        help="webhooks per closed-loop run")
    parser.add_argument("--clients", type=int, default=50, help="agents on the websocket")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="load generator connections")
    parser.add_argument("--rate", type=float, default=500, help="webhooks/s of the paced run")
    parser.add_argument("--seconds", type=float, default=10, help="length of the paced run")
    parser.add_argument("--no-deflate", action="store_true",
                        help="agents connect without permessage-deflate (default: with)")
    parser.add_argument("--profile", metavar="FILE",
                        help="run the relay under cProfile, save and summarise to FILE")
    parser.add_argument("--database", metavar="URL",
                        help="run the relays on this PostgreSQL database (postgresql://...; "
                             "an empty one you can throw away: the bench seeds and fills it)")
    parser.add_argument("--pg", action="store_true",
                        help="start a throwaway PostgreSQL cluster (durable: fsync on) and "
                             "run the relays on a fresh database in it")
    parser.add_argument("--relays", type=int, default=1,
                        help="relay processes sharing the PostgreSQL database, the webhooks "
                             "and agents spread round robin (default 1)")
    args = parser.parse_args()
    if args.database and args.pg:
        parser.error("--database and --pg: one or the other")
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL (SQLite is the default)")
    if args.relays < 1 or (args.relays > 1 and not (args.database or args.pg)):
        parser.error("--relays N needs N >= 1, and more than one needs PostgreSQL "
                     "(--database or --pg): relays cannot share a SQLite file")

    tmp = Path(tempfile.mkdtemp(prefix="smsdesk-ingest-"))
    children: list[Child] = []
    cluster: Any = None

    async def run() -> None:
        nonlocal cluster
        database, postmaster = args.database, None
        try:
            if args.pg:
                cluster = await asyncio.to_thread(throwaway_cluster)
                database = await asyncio.to_thread(cluster.fresh_database)
                postmaster = postmaster_pid(cluster.directory / "data")
            await bench(args, tmp, children, database, postmaster)
        finally:
            for child in reversed(children):  # agents first, so the relay can shut down
                child.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        for child in reversed(children):
            child.stop(grace=2)
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.profile and Path(args.profile).exists():
        print_profile(args.profile)


if __name__ == "__main__":
    main()
