"""What the SMS bot costs the relay: process CPU per inbound webhook, without and with a bot.

    .venv/bin/python bench/bot.py [--customers 1000] [--rounds 3] [--pg | --database URL]

Why: the bot answers inside the inbound webhook's transaction (core/bot_writes.py), so
its cost lands on the path Twilio waits on. The issue's budget: a bot reply adds under
1 ms of relay CPU to the inbound webhook.

What runs: the relay's webhook path in a process of its own (server.app.Relay on uvicorn,
as ``smsdesk relay`` serves it, on a store seeded like the end-to-end tests) and, here,
a client sending signed ``/twilio/inbound`` forms one after another on a keep-alive
connection. The relay reports its own process CPU (``time.process_time_ns``: every
thread, SQLite's or psycopg's included) before and after each phase. The outbox is not
started: sending a reply costs the same whoever wrote it (an agent or the bot), and needs
Twilio; what is measured is what the bot adds to the webhook.

Phases, each with fresh customers, alternated ``--rounds`` times in one run so that the
machine's drift (other work on shared cores) falls on both alike:

* ``no flow, first text``: the US number, no bot: "hi" opens a ticket;
* ``no flow, second text``: the same customers' "1" joins their tickets;
* ``bot, greeting``: the UK number, whose flow is on: "hi" opens a ticket, and the bot
  queues its greeting and the menu (two texts) in the same transaction;
* ``bot, menu reply``: "1": the bot answers the menu choice (a text), moves the ticket to
  Billing (a ticket change, activity recorded) and saves the session.

It prints µs of relay CPU per webhook for each phase (median over rounds) and what the
bot adds: the greeting phase minus the first-text phase, the menu-reply phase minus the
second-text phase. With ``--pg`` a throwaway PostgreSQL cluster (tests/pg_cluster.py,
fsync on) holds the store; ``--database URL`` an empty database of yours.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # relay_harness (the seed), pg_cluster (--pg)

HOST = "127.0.0.1"
INBOUND = "/twilio/inbound"


# --- the relay's process ---------------------------------------------------------------


async def serve(home: Path, database: str | None, port: int) -> None:
    """The webhook path of the relay, until stdin closes; ``cpu`` on stdin prints the
    process CPU so far (ns)."""
    import uvicorn

    from core.store import Store
    from server.app import Relay
    from server.config import Paths
    from server.media import FileMediaStore
    from server.relay import listening_socket

    paths = Paths(home, database)
    store = await Store.open(paths.store)
    relay = Relay(store=store, public_url=f"http://{HOST}:{port}",
                  media=FileMediaStore(home / "media"), media_secret=b"s" * 32)
    config = uvicorn.Config(relay, host=HOST, port=port, http="h11", ws="none",
                            lifespan="off", log_level="warning", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening_socket(HOST, port)]))
    while not server.started:
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        print(time.process_time_ns(), flush=True)
    server.should_exit = True
    await serving
    await store.close()


# --- the bench ------------------------------------------------------------------------


class RelayChild:
    def __init__(self, home: Path, database: str | None, port: int) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", str(home),
                "--port", str(port)]
        if database:
            argv += ["--database", database]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay did not start")

    def cpu_ns(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


class Twilio:
    """Signed inbound webhooks on one keep-alive connection, as Twilio posts them."""

    def __init__(self, port: int) -> None:
        from relay_harness import ACCOUNT_SID, AUTH_TOKEN
        from twilio.request_validator import RequestValidator

        self.account_sid = ACCOUNT_SID
        self.validator = RequestValidator(AUTH_TOKEN)
        self.url = f"http://{HOST}:{port}"
        self.connection = http.client.HTTPConnection(HOST, port, timeout=30)
        self.sids = 0

    def forms(self, to: str, phones: list[str], body: str) -> list[tuple[bytes, str]]:
        """Built (and signed) before the clock starts: the client's work is not measured."""
        built = []
        for phone in phones:
            self.sids += 1
            params = {"MessageSid": f"SM{self.sids:032x}", "AccountSid": self.account_sid,
                      "From": phone, "To": to, "Body": body, "NumMedia": "0",
                      "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
            signature = self.validator.compute_signature(self.url + INBOUND, params)
            built.append((urlencode(params).encode(), signature))
        return built

    def post(self, form: bytes, signature: str) -> None:
        self.connection.request("POST", INBOUND, body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature})
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the relay answered {response.status}")


def measured(relay: RelayChild, twilio: Twilio, forms: list[tuple[bytes, str]]) -> float:
    """µs of relay CPU per webhook over ``forms``."""
    before = relay.cpu_ns()
    for form, signature in forms:
        twilio.post(form, signature)
    return (relay.cpu_ns() - before) / len(forms) / 1000


async def seed(home: Path, database: str | None) -> None:
    from relay_harness import UK_LONG_CODE
    from relay_harness import seed as seed_desk
    from test_bot_commands import FLOW  # greeting, a menu: 1 routes to Billing, 2 a person

    from core import bot_store, queries
    from core.store import Store
    from server.config import Paths

    paths = Paths(home, database)
    await seed_desk(paths.store)
    async with await Store.open(paths.store) as store:
        uk = next(n for n in await store.read(queries.numbers) if n.e164 == UK_LONG_CODE)
        await store.write(bot_store.save_flow, number_id=uk.id, source=FLOW, enabled=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def database_for(args: argparse.Namespace) -> Iterator[str | None]:
    if not args.pg:
        yield args.database
        return
    from pg_cluster import PgCluster

    cluster = PgCluster.start(durable=True)
    try:
        yield cluster.fresh_database()
    finally:
        cluster.stop()


def bench(args: argparse.Namespace) -> dict[str, list[float]]:
    from relay_harness import UK_LONG_CODE, US_TOLL_FREE

    with tempfile.TemporaryDirectory() as folder, database_for(args) as database:
        home = Path(folder)
        asyncio.run(seed(home, database))
        port = free_port()
        relay = RelayChild(home, database, port)
        try:
            twilio = Twilio(port)
            figures: dict[str, list[float]] = {}
            people = iter(range(10_000_000))
            warm = [f"+1202{next(people):07d}" for _ in range(200)]
            for form in twilio.forms(US_TOLL_FREE, warm, "hi") + twilio.forms(
                    UK_LONG_CODE, [f"+447700{p[-6:]}" for p in warm], "hi"):
                twilio.post(*form)
            for _ in range(args.rounds):
                us = [f"+1202{next(people):07d}" for _ in range(args.customers)]
                uk = [f"+447700{next(people) % 1_000_000:06d}" for _ in range(args.customers)]
                phases = {
                    "no flow, first text": twilio.forms(US_TOLL_FREE, us, "hi"),
                    "no flow, second text": twilio.forms(US_TOLL_FREE, us, "1"),
                    "bot, greeting": twilio.forms(UK_LONG_CODE, uk, "hi"),
                    "bot, menu reply": twilio.forms(UK_LONG_CODE, uk, "1"),
                }
                for name, forms in phases.items():
                    figures.setdefault(name, []).append(measured(relay, twilio, forms))
        finally:
            relay.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000,
                        help="customers per phase and round (each sends two texts)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="an empty PostgreSQL database (URL)")
    parser.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL cluster")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.database, args.port))
        return
    if args.pg and args.database:
        parser.error("--database and --pg: one or the other")
    figures = bench(args)
    backend = "PostgreSQL" if args.pg or args.database else "SQLite"
    print(f"relay CPU per inbound webhook ({backend}, {args.customers} customers x "
          f"{args.rounds} rounds; median, and the least of the rounds):")
    for name, values in figures.items():
        print(f"  {name:<22} {statistics.median(values):8.0f} µs {min(values):8.0f} µs")
    for how, pick in (("median", statistics.median), ("least", min)):
        found = {name: pick(values) for name, values in figures.items()}
        greeting = found["bot, greeting"] - found["no flow, first text"]
        reply = found["bot, menu reply"] - found["no flow, second text"]
        print(f"the bot adds ({how}) {greeting:.0f} µs to a first text (greeting + menu: 2"
              f" texts queued), {reply:.0f} µs to a menu reply (a text, a group change);"
              " budget 1000 µs")


if __name__ == "__main__":
    main()
