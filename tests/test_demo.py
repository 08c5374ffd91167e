"""``smsdesk demo``'s backend: a real child process, its READY line, its texts, its exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from desk_harness import processes_mentioning as _processes_mentioning
from desk_harness import refuses as _refuses
from relay_harness import AgentClient

from core.sms import analyze
from server import cli
from server.demo import NAMED, TIMELINE, DemoBackend, DemoError, start_backend
from server.simulator.runner import DEMO_UK, DEMO_US

FAST = 100.0  # the whole 180 s timeline in 1.8 s



def _assert_all_gone(backend: DemoBackend) -> None:
    assert backend.process.returncode is not None
    assert _refuses(backend.url)
    assert _refuses(backend.sim_url)
    assert _processes_mentioning(str(backend.home)) == []


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[DemoBackend]:
    started = start_backend(tmp_path / "demo", speed=FAST)
    try:
        yield started
    finally:
        started.stop()


async def _hello(backend: DemoBackend, socket_: Any) -> tuple[AgentClient, dict[str, Any]]:
    agent = AgentClient(socket_)
    await agent.send({"type": "hello", "version": 1, "token": backend.token, "last_seq": 0})
    return agent, await agent.until("welcome")


async def test_the_admin_sees_the_desk_and_every_kind_of_text(backend: DemoBackend) -> None:
    scripted = {t.body for t in TIMELINE}
    async with websockets.connect(backend.url) as socket_:
        agent, welcome = await _hello(backend, socket_)
        assert (welcome["agent"]["name"], welcome["agent"]["role"]) == ("Demo Admin", "admin")
        assert len(welcome["agent"]["group_ids"]) == 2
        # Replay, then live: the timeline is 1.8 s long, so most of it arrives live.
        inbound: list[dict[str, Any]] = []
        live: list[dict[str, Any]] = []
        opted_out = caught_up = False
        while len(inbound) < len(TIMELINE):
            frame = await agent.receive(timeout=10)
            caught_up |= frame["type"] == "caught_up"
            if frame["type"] != "event":
                continue
            message = frame["payload"].get("message", {})
            created = frame["kind"] in ("ticket.created", "message.created")
            if created and message["direction"] == "inbound" and message["body"] in scripted:
                inbound.append(message)
                if caught_up:
                    live.append(message)
            opted_out |= bool(frame["payload"].get("contact", {}).get("opted_out"))

        groups = (await agent.command("list_groups"))["result"]
        assert sorted(g["name"] for g in groups) == ["Billing", "Shipping"]
        numbers = (await agent.command("list_numbers"))["result"]
        assert {n["e164"]: n["mms"] for n in numbers} == {DEMO_US: True, DEMO_UK: False}
        tickets = (await agent.command("list_tickets", limit=50))["result"]["items"]
        names = {t["contact_name"] for t in tickets}
        assert {"Maya Patel", "Tom Hughes", "Ana Souza", "Jordan Lee"} <= names
        library = (await agent.command("list_canned"))["result"]
        assert [f["name"] for f in library["folders"]] == ["Orders", "Returns"]
        assert len(library["responses"]) == 4
        scenarios = (await agent.command("list_scenarios"))["result"]
        assert [s["name"] for s in scenarios] == ["Close as spam", "Resolve with thanks"]
        assert backend.stop() == 0  # with an agent still connected
    _assert_all_gone(backend)
    assert [m["body"] for m in inbound] == [t.body for t in TIMELINE]
    assert live  # not only in the replay
    assert any(m["segments"] > 1 for m in inbound)
    assert any(m["encoding"] == "UCS-2" for m in inbound)
    assert any(m["media"] and m["media"][0]["content_type"] == "image/png" for m in inbound)
    assert opted_out  # the STOP


async def test_history_replies_go_out_through_the_simulator_and_are_delivered(
    backend: DemoBackend,
) -> None:
    async with websockets.connect(backend.url) as socket_:
        agent, _ = await _hello(backend, socket_)
        await agent.until("caught_up")
        deadline = time.monotonic() + 10
        delivered: list[dict[str, Any]] = []
        while len(delivered) < 2 and time.monotonic() < deadline:
            tickets = (await agent.command("list_tickets", limit=50))["result"]["items"]
            delivered = []
            # Today's conversations: the week before them (server/demo_history) has its own.
            for ticket in [t for t in tickets if t["ticket"]["customer_phone"] in NAMED]:
                thread = await agent.command("get_thread", ticket_id=ticket["ticket"]["id"])
                delivered += [m for m in thread["result"]["items"]  # Sam's, not the bot's
                              if m.get("direction") == "outbound" and m["status"] == "delivered"
                              and not m["by_bot"]]
    assert len(delivered) == 2
    assert all(m["twilio_sid"].startswith("SM") for m in delivered)


def test_stop_leaves_no_process_and_no_open_port(tmp_path: Path) -> None:
    backend = start_backend(tmp_path / "demo", speed=FAST)
    assert _processes_mentioning(str(backend.home))  # the check below can see the child
    assert not _refuses(backend.url) and not _refuses(backend.sim_url)
    started = time.monotonic()
    assert backend.stop() == 0
    assert time.monotonic() - started < 5  # stopped on its own, not killed
    _assert_all_gone(backend)


def test_sigterm_stops_the_child_cleanly(backend: DemoBackend) -> None:
    backend.process.send_signal(signal.SIGTERM)
    assert backend.process.wait(5) == 0
    _assert_all_gone(backend)


def test_the_child_stops_when_its_parent_dies(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from server.demo import start_backend\n"
        "b = start_backend(Path(sys.argv[1]), remove_home=True)\n"
        "print(b.process.pid, b.url, b.sim_url, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None
        pid, url, sim_url = parent.stdout.readline().split()
        assert int(pid) in _processes_mentioning(str(home))
        parent.kill()  # no cleanup code runs: only the closed pipe tells the child
        parent.wait()
        deadline = time.monotonic() + 5
        while _processes_mentioning(str(home)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_mentioning(str(home)) == []
        assert _refuses(url) and _refuses(sim_url)
        assert not home.exists()  # the child removed its own throwaway home
    finally:
        parent.kill()
        parent.wait()


def test_a_startup_failure_is_reported_and_leaves_nothing_running(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    home.mkdir()
    (home / "smsdesk.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(DemoError) as failed:
        start_backend(home, speed=FAST)
    assert "DatabaseError" in str(failed.value)
    assert _processes_mentioning(str(home)) == []


def test_the_timeline_has_every_kind_of_text() -> None:
    costs = [analyze(text.body) for text in TIMELINE]
    assert any(len(t.body) > 160 and c.segments > 1 for t, c in zip(TIMELINE, costs, strict=True))
    assert any(c.encoding == "UCS-2" for c in costs)
    assert any(t.picture and t.to == DEMO_US for t in TIMELINE)  # MMS only where MMS works
    assert not any(t.picture and t.to == DEMO_UK for t in TIMELINE)
    assert [t.at for t in TIMELINE] == sorted(t.at for t in TIMELINE)


def test_cli_demo_opens_the_inbox_then_cleans_up(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the throwaway home is made
    user_config = tmp_path / "mine.toml"
    user_config.write_text('theme = "nord"\n[keymap]\n"inbox.reply" = "R"\n')
    monkeypatch.setenv("SMSDESK_CONFIG", str(user_config))
    seen: dict[str, Any] = {}

    def run_inbox(relay_url: str, token: str, *, config_path: Path | None = None,
                  welcome: str = "") -> int:
        from tui.config import load_config

        config = load_config(config_path)  # what the real run_inbox reads
        home = next(tmp_path.glob("smsdesk-demo-*"))
        seen.update(url=relay_url, token=token, home=home, home_existed=home.is_dir(),
                    listening=not _refuses(relay_url), theme=config.theme,
                    keymap=config.keymap, children=_processes_mentioning(str(home)),
                    welcome=welcome)
        return 0

    monkeypatch.setitem(sys.modules, "tui.app", types.SimpleNamespace(run_inbox=run_inbox))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert cli.main(["demo", "--speed", str(FAST)]) == 0
    assert seen["url"].startswith("ws://127.0.0.1:") and seen["url"].endswith("/ws")
    assert seen["token"].startswith("sd_")
    assert (seen["theme"], seen["keymap"]) == ("nord", {"inbox.reply": "R"})  # the user's
    assert "smsdesk sim text --from " in seen["welcome"]  # how to text this demo
    assert seen["home"].name.startswith("smsdesk-demo-") and seen["home_existed"]
    assert seen["listening"] and seen["children"]
    assert not seen["home"].exists()
    assert _refuses(seen["url"])
    assert _processes_mentioning(str(seen["home"])) == []


def test_cli_demo_no_inbox_runs_until_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    demo = subprocess.Popen([sys.executable, "-m", "server.cli", "demo", "--no-inbox"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(4)]
        url = lines[2].split()[-1]
        assert "Relay websocket" in lines[2] and url.startswith("ws://")
        homes = list(tmp_path.glob("smsdesk-demo-*"))
        assert len(homes) == 1 and _processes_mentioning(str(homes[0]))
        demo.send_signal(signal.SIGINT)  # Ctrl+C
        assert demo.wait(10) == 130
        assert _refuses(url)
        assert _processes_mentioning(str(homes[0])) == []
        assert not homes[0].exists()
    finally:
        demo.kill()
        demo.wait()


def test_cli_demo_refuses_a_home_with_data_in_it(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "smsdesk.sqlite3").write_bytes(b"")
    assert cli.main(["demo", "--home", str(tmp_path), "--no-inbox"]) == 2
    assert "not empty" in capsys.readouterr().err
