"""/healthz on both backends: which relay this is, what it leads, whether its database answers.

A load balancer takes a relay out when /healthz is not 200, so a database that does not
answer (or answers too slowly) must make it 503, promptly; an operator reads ``relay``,
``backend`` and ``leads`` to see which relay sends the replies.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from relay_harness import Harness, relay_on_loopback

from core.store import DatabaseUnavailable
from server import app


@pytest.fixture
async def relay(tmp_path: Path, store_backend: str,
                request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    database = request.getfixturevalue("pg_url") if store_backend == "postgresql" else None
    async with relay_on_loopback(tmp_path, database) as harness:
        yield harness


async def health(relay: Harness) -> tuple[int, dict[str, Any]]:
    status, body = await relay.get("/healthz")
    return status, json.loads(body)


async def leading(relay: Harness) -> dict[str, Any]:
    """/healthz once this relay leads the outbox (taken shortly after start)."""
    deadline = time.monotonic() + 10
    while True:
        _, answer = await health(relay)
        if answer["leads"] == ["mail-outbox", "outbox", "sla-watch"] or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def test_health_names_the_relay_backend_leads_and_database(
        relay: Harness, store_backend: str) -> None:
    answer = await leading(relay)
    assert answer["ok"] is True and answer["database"] == "ok"
    assert answer["backend"] == store_backend
    assert answer["leads"] == ["mail-outbox", "outbox", "sla-watch"]
    assert answer["relay"] == relay.relay.name == app.relay_name()
    assert answer["relay"].endswith(f":{os.getpid()}")
    for kept in ("seq", "agents", "commits", "writes", "commit_seconds"):
        assert kept in answer


async def test_a_configured_relay_name_is_reported(
        relay: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(app.RELAY_NAME, "relay-b")
    assert app.relay_name() == "relay-b"
    relay.relay.name = app.relay_name()
    assert (await health(relay))[1]["relay"] == "relay-b"


async def test_a_database_that_does_not_answer_is_503_within_the_timeout(
        relay: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def hangs(*_: object, **__: object) -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(app, "HEALTH_TIMEOUT", 0.3)
    monkeypatch.setattr(relay.relay.store, "read", hangs)
    started = time.monotonic()
    status, answer = await health(relay)
    assert time.monotonic() - started < 2
    assert (status, answer["ok"], answer["seq"]) == (503, False, None)
    assert answer["database"] == "no answer within 0.3 s"


async def test_a_database_that_is_unavailable_is_503_with_the_reason(
        relay: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unavailable(*_: object, **__: object) -> None:
        raise DatabaseUnavailable("the database is unavailable (connection refused)")

    monkeypatch.setattr(relay.relay.store, "read", unavailable)
    status, answer = await health(relay)
    assert (status, answer["ok"]) == (503, False)
    assert answer["database"] == "the database is unavailable (connection refused)"


async def test_a_webhook_the_database_cannot_take_is_503_not_500(
        relay: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unavailable(*_: object, **__: object) -> None:
        raise DatabaseUnavailable("the database is unavailable (connection refused)")

    assert (await relay.text("warm the account cache"))[0] == 200
    monkeypatch.setattr(relay.relay.store, "write", unavailable)
    status, body = await relay.text("while the database is away")
    assert status == 503
    assert b"database unavailable" in body
