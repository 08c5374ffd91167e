"""A whole desk on loopback for the inbox's tests: Twilio simulator, relay, account, people.

The inbox is tested against the real thing: the relay process's code in this
event loop (uvicorn, websockets, the SQLite file or a PostgreSQL database), the account connected
through the simulator with the twilio SDK, texts arriving as signed webhooks.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from textual.pilot import Pilot

from core import auth, writes
from core.models import Role
from server import admin
from server.app import Relay
from server.config import Paths
from server.relay import bound_port, running_relay
from server.simulator.runner import Simulator, TextResult
from tui.config import Config

US_TOLL_FREE = "+18885550100"
UK_LONG_CODE = "+447400900456"


async def until(pilot: Pilot[Any], condition: Callable[[], Any], what: str = "condition",
                timeout: float = 8.0) -> Any:
    """Let the app work until ``condition()`` is truthy (the relay answers asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def refuses(url: str) -> bool:
    """Nothing listens at ``url``'s host and port any more."""
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "", parts.port or 0)) != 0


def processes_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveDesk:
    sim: Simulator
    relay: Relay
    ws_url: str
    admin_token: str
    agent_token: str
    billing_id: int
    shipping_id: int
    home: Path

    def config(self, *, admin: bool = True, **changes: object) -> Config:
        """Inbox settings for the admin (or the agent), with no send review unless asked."""
        config = Config(relay=self.ws_url, token=self.admin_token if admin else self.agent_token,
                        send_review=False)
        for name, value in changes.items():
            setattr(config, name, value)
        return config

    async def text(self, body: str, *, from_: str = "+12025550123", to: str = US_TOLL_FREE,
                   media: list[tuple[str, bytes]] | None = None) -> TextResult:
        result = await self.sim.text(from_, to, body, media=media or [])
        assert result.status == 200, result
        return result


@asynccontextmanager
async def live_desk(tmp_path: Path, database: str | None = None) -> AsyncIterator[LiveDesk]:
    """The desk with its store in ``tmp_path``, or on the PostgreSQL ``database`` (a URL)."""
    sim = Simulator()
    await sim.start(host="127.0.0.1", port=0)
    previous = _swap_env("SMSDESK_TWILIO_API_URL", sim.url)
    account = sim.add_account(friendly_name="Acme")
    sim.add_number(account.sid, US_TOLL_FREE, mms=True)
    sim.add_number(account.sid, UK_LONG_CODE, mms=False)
    paths = Paths(tmp_path / "relay", database)
    port = free_port()
    try:
        async with running_relay(paths, public_url=f"http://127.0.0.1:{port}",
                                 host="127.0.0.1", port=port) as (relay, server):
            await admin.add_account(paths, name="Acme", sid=account.sid,
                                    token=account.auth_token)
            store = relay.store
            billing = await store.write(writes.add_group, "Billing")
            shipping = await store.write(writes.add_group, "Shipping")
            admin_token, agent_token = auth.new_token(), auth.new_token()
            await store.write(writes.add_agent, name="Ada", role=Role.ADMIN,
                              token_hash=auth.hash_token(admin_token),
                              group_ids=[billing.id, shipping.id])
            await store.write(writes.add_agent, name="Bo", role=Role.AGENT,
                              token_hash=auth.hash_token(agent_token), group_ids=[billing.id])
            yield LiveDesk(sim, relay, f"ws://127.0.0.1:{bound_port(server)}/ws", admin_token,
                           agent_token, billing.id, shipping.id, tmp_path)
    finally:
        _swap_env("SMSDESK_TWILIO_API_URL", previous)
        await sim.stop()


def _swap_env(name: str, value: str | None) -> str | None:
    import os

    previous = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    return previous
