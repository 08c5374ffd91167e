"""``smsdesk sim text`` finds a running demo or simulator by itself (no --sim, no port)."""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.demo import start_backend
from server.simulator.discovery import Running, announce, find_running, withdraw
from server.simulator.runner import DEMO_US

ROOT = Path(__file__).resolve().parent.parent
SMSDESK = [sys.executable, "-m", "server.cli"]


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runtime directory of this test's own (subprocesses inherit it through the env)."""
    folder = tmp_path / "runtime"
    monkeypatch.setenv("SMSDESK_RUNTIME_DIR", str(folder))
    return folder


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_the_newest_live_simulator_is_found_and_a_dead_ones_file_is_removed(
        runtime: Path) -> None:
    assert find_running() is None  # nothing announced, not even a directory yet
    older = announce(Running(os.getppid(), "http://127.0.0.1:1111"))
    newer = announce(Running(os.getpid(), "http://127.0.0.1:2222", "ws://x/ws", "/h", DEMO_US))
    stale = announce(Running(_dead_pid(), "http://127.0.0.1:3333"))
    assert older and newer and stale
    os.utime(older, (1, 1))
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert stat.S_IMODE(newer.stat().st_mode) == 0o600
    found = find_running()
    assert found == Running(os.getpid(), "http://127.0.0.1:2222", "ws://x/ws", "/h", DEMO_US)
    assert not stale.exists()
    withdraw(newer)
    assert find_running() == Running(os.getppid(), "http://127.0.0.1:1111")
    withdraw(older)
    assert find_running() is None and list(runtime.iterdir()) == []


def test_a_runtime_directory_others_can_write_to_is_not_trusted(runtime: Path) -> None:
    runtime.mkdir()
    (runtime / f"sim-{os.getpid()}.json").write_text(
        f'{{"pid": {os.getpid()}, "sim_url": "http://attacker.example"}}')
    runtime.chmod(0o777)
    assert find_running() is None
    assert announce(Running(os.getpid(), "http://127.0.0.1:1")) is None


def _sim_text(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMSDESK, "sim", "text", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)


def test_sim_text_finds_a_simulator_started_by_hand(runtime: Path) -> None:
    sim = subprocess.Popen([*SMSDESK, "sim", "--port", "0", "--seed-demo"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        first = sim.stdout.readline()
        assert "listening on" in first
        texted = _sim_text("--from", "+14155550100", "--to", DEMO_US, "Hi")
        assert texted.returncode == 0, texted.stderr
        assert texted.stdout.startswith("SM")
    finally:
        sim.send_signal(signal.SIGINT)
        sim.communicate(timeout=15)
    assert sim.returncode == 0
    assert list(runtime.iterdir()) == []  # withdrawn on the way out
    gone = _sim_text("--from", "+14155550100", "--to", DEMO_US, "Hi")
    assert gone.returncode == 1 and "smsdesk demo" in gone.stderr  # says how to start one


def test_the_demos_how_to_text_line_works_as_printed(runtime: Path, tmp_path: Path) -> None:
    backend = start_backend(tmp_path / "demo", speed=1000)
    try:
        found = find_running()
        assert found is not None
        assert (found.sim_url, found.relay_url, found.number) == (
            backend.sim_url, backend.url, DEMO_US)
        command = shlex.split(backend.how_to_text)
        assert command[:3] == ["smsdesk", "sim", "text"] and "--sim" not in command
        assert DEMO_US in command
        texted = subprocess.run([*SMSDESK, *command[1:]], cwd=ROOT, capture_output=True,
                                text=True, timeout=30)
        assert texted.returncode == 0, texted.stderr
        assert "HTTP 200" in texted.stdout  # the demo's relay took it
    finally:
        assert backend.stop() == 0
    assert list(runtime.iterdir()) == []  # nothing left behind


def test_the_demo_no_inbox_output_says_how_to_text_it(runtime: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    demo = subprocess.Popen([*SMSDESK, "demo", "--no-inbox"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE)
    try:
        assert demo.stdout is not None
        lines = [demo.stdout.readline() for _ in range(10)]
        shown = [line.strip() for line in lines if line.strip().startswith("smsdesk sim text")]
        assert len(shown) == 1 and DEMO_US in shown[0] and "--sim" not in shown[0]
        texted = subprocess.run([*SMSDESK, *shlex.split(shown[0])[1:]], cwd=ROOT,
                                capture_output=True, text=True, timeout=30)
        assert texted.returncode == 0 and "HTTP 200" in texted.stdout, texted.stderr
        demo.send_signal(signal.SIGINT)
        assert demo.wait(10) == 130
    finally:
        demo.kill()
        demo.wait()
    assert list(runtime.iterdir()) == []
