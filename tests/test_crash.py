"""kill -9 of the relay under load loses nothing it acknowledged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from relay_harness import ACCOUNT_SID, AUTH_TOKEN, US_TOLL_FREE, seed
from twilio.request_validator import RequestValidator

from core import queries
from core.store import Store
from server.config import Paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, public: str, sid: str, n: int) -> int:
    params = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1202555{n % 10000:04d}",
              "To": US_TOLL_FREE, "Body": f"message {n}", "NumMedia": "0"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public + "/twilio/inbound",
                                                                params)
    request = urllib.request.Request(url + "/twilio/inbound", data=urlencode(params).encode(),
                                     headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0


async def test_kill_9_under_load_loses_no_acknowledged_text(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    await seed(paths.database)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SMSDESK_HOME": str(tmp_path), "SMSDESK_TWILIO_API_URL": url}
    relay = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "relay", "--port", str(port), "--public-url", url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                await asyncio.sleep(0.05)
        acknowledged: list[str] = []

        async def sender(worker: int) -> None:
            for n in range(worker, 100_000, 16):
                sid = f"SM{n:032x}"
                status = await asyncio.to_thread(_post, url, url, sid, n)
                if status == 200:
                    acknowledged.append(sid)
                elif relay.poll() is not None:
                    return

        async def killer() -> None:
            while len(acknowledged) < 300:
                await asyncio.sleep(0.01)
            relay.send_signal(signal.SIGKILL)

        await asyncio.gather(killer(), *(sender(w) for w in range(16)))
        relay.wait(timeout=10)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    assert len(acknowledged) >= 300
    async with await Store.open(paths.database) as store:
        for sid in acknowledged:
            assert await store.read(queries.message_by_sid, sid) is not None, sid
