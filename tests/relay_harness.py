"""A real relay on loopback for end-to-end tests: real store, uvicorn, websockets.

The store is the SQLite file in the home, or the PostgreSQL database given as
``database=`` (a ``postgresql://`` URL). ``relay_process`` runs ``smsdesk relay`` in a
process of its own, for tests that kill one or run several on one database.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import websockets
from twilio.request_validator import RequestValidator

from core import auth, writes
from core.db import Locator
from core.models import Role, SenderType
from core.store import Store
from server.app import Relay
from server.config import Paths
from server.relay import bound_port, running_relay

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "f" * 32
US_TOLL_FREE = "+18885550100"
UK_LONG_CODE = "+447400900456"
CUSTOMER = "+12015550123"


@dataclass
class Harness:
    relay: Relay
    url: str
    admin_token: str
    agent_token: str
    _sids: int = 0

    def next_sid(self) -> str:
        self._sids += 1
        return f"SM{self._sids:032x}"

    def signed(self, path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
        return RequestValidator(token).compute_signature(self.relay.public_url + path, params)

    async def post(self, path: str, params: dict[str, str], *, signature: str | None = None,
                   body: bytes | None = None) -> tuple[int, bytes]:
        data = body if body is not None else urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is None:
            signature = self.signed(path, params)
        if signature:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(self.url + path, data=data, headers=headers)

        def call() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        return await asyncio.to_thread(call)

    async def get(self, path: str) -> tuple[int, bytes]:
        def call() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(self.url + path, timeout=10) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        return await asyncio.to_thread(call)

    async def text(self, body: str, *, from_: str = CUSTOMER, to: str = US_TOLL_FREE,
                   sid: str | None = None, **extra: str) -> tuple[int, bytes]:
        params = {"MessageSid": sid or self.next_sid(), "AccountSid": ACCOUNT_SID,
                  "From": from_, "To": to, "Body": body, "NumMedia": "0",
                  "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
                  **extra}
        return await self.post("/twilio/inbound", params)

    @asynccontextmanager
    async def agent(self, token: str | None = None,
                    last_seq: int = 0) -> AsyncIterator[AgentClient]:
        async with websockets.connect(self.url.replace("http", "ws") + "/ws") as socket:
            client = AgentClient(socket)
            await client.send({"type": "hello", "version": 1,
                               "token": token or self.agent_token, "last_seq": last_seq})
            yield client


class AgentClient:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = 0
        self._pending: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        """The next message; the items of an ``events`` frame come one at a time."""
        if self._pending:
            return self._pending.pop(0)
        message = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        if message["type"] == "events":
            self._pending = message["items"][1:]
            return message["items"][0]
        return message

    async def until(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        while True:
            message = await self.receive(timeout)
            if message["type"] == kind:
                return message

    async def command(self, name: str, /, command_id: str | None = None,
                      **args: Any) -> dict[str, Any]:
        self._ids += 1
        command_id = command_id or f"c{self._ids}"
        await self.send({"type": "command", "id": command_id, "name": name, "args": args})
        while True:
            message = await self.receive()
            if message["type"] in ("result", "error") and message.get("id") == command_id:
                return message


async def seed(path: Locator) -> tuple[str, str]:
    """An account with a US toll-free MMS number and a UK SMS-only long code; two agents."""
    async with await Store.open(path) as store:
        billing = await store.write(writes.add_group, "Billing")
        account = await store.write(writes.add_account, name="Acme", sid=ACCOUNT_SID,
                                    auth_token=AUTH_TOKEN)
        await store.write(writes.save_number, account_id=account.id, e164=US_TOLL_FREE,
                          mms=True, sender_type=SenderType.TOLL_FREE, country="US",
                          default_group_id=billing.id)
        await store.write(writes.save_number, account_id=account.id, e164=UK_LONG_CODE,
                          mms=False, sender_type=SenderType.LONG_CODE, country="GB")
        admin, agent = auth.new_token(), auth.new_token()
        await store.write(writes.add_agent, name="Ada", role=Role.ADMIN,
                          token_hash=auth.hash_token(admin))
        await store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                          token_hash=auth.hash_token(agent), group_ids=[billing.id])
    return admin, agent


@asynccontextmanager
async def relay_on_loopback(home: Path, database: str | None = None) -> AsyncIterator[Harness]:
    """A relay whose Twilio is unreachable (port 9 refuses at once): replies stay queued.

    Tests that need Twilio use the simulator (test_end_to_end.py).
    """
    paths = Paths(home, database)
    admin, agent = await seed(paths.store)
    with _twilio_unreachable():
        async with _serving(paths, admin, agent) as harness:
            yield harness


@asynccontextmanager
async def relay_restarted(home: Path, before: Harness,
                          database: str | None = None) -> AsyncIterator[Harness]:
    """Another relay on the same home (after ``before``'s block ended): a restart."""
    with _twilio_unreachable():
        async with _serving(Paths(home, database), before.admin_token,
                            before.agent_token) as harness:
            yield harness


@contextmanager
def _twilio_unreachable() -> Iterator[None]:
    previous = os.environ.get("SMSDESK_TWILIO_API_URL")
    os.environ["SMSDESK_TWILIO_API_URL"] = "http://127.0.0.1:9"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SMSDESK_TWILIO_API_URL", None)
        else:
            os.environ["SMSDESK_TWILIO_API_URL"] = previous


@asynccontextmanager
async def _serving(paths: Paths, admin: str, agent: str) -> AsyncIterator[Harness]:
    async with running_relay(paths, public_url="https://relay.example.test", host="127.0.0.1",
                             port=0) as (relay, server):
        yield Harness(relay, f"http://127.0.0.1:{bound_port(server)}", admin, agent)


@dataclass
class RelayProcess:
    """``smsdesk relay`` in a process of its own (kill it with ``process.kill()``)."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def relay_process(home: Path, port: int, *, public_url: str, database: str | None = None,
                  twilio: str = "http://127.0.0.1:9",
                  env: dict[str, str] | None = None) -> Iterator[RelayProcess]:
    """Start a relay process on 127.0.0.1:``port`` and wait until ``/healthz`` answers.

    ``twilio`` is where its Twilio calls go (the simulator's URL; by default a port that
    refuses at once). Several relays may share one ``database``; each has its own home.
    """
    home.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "server.cli", "relay", "--port", str(port),
            "--public-url", public_url]
    if database:
        argv += ["--database", database]
    environment = {**os.environ, "SMSDESK_HOME": str(home), "SMSDESK_TWILIO_API_URL": twilio,
                   **(env or {})}
    environment.pop("SMSDESK_DATABASE", None)
    log = home / "relay.log"
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    running = RelayProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(relay: RelayProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if relay.process.poll() is not None:
            raise RuntimeError(f"the relay exited ({relay.process.returncode}):\n"
                               f"{relay.output()}")
        try:
            with urllib.request.urlopen(relay.url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the relay did not answer /healthz in {timeout} s:\n{relay.output()}")


def harness_for(relay: RelayProcess, public_url: str, admin: str, agent: str) -> Harness:
    """A ``Harness`` speaking to a relay process (``relay`` only gives the public URL)."""
    return Harness(_Public(public_url), relay.url, admin, agent)  # type: ignore[arg-type]


@dataclass
class _Public:
    """What ``Harness.signed`` needs of a ``Relay``: the URL Twilio signs against."""

    public_url: str
