"""How ``smsdesk sim text`` finds a running simulator (the demo's, or ``smsdesk sim``'s) by itself.

A running simulator writes ``sim-<pid>.json`` (its URL, and for the demo the
relay and a number to text) into the per-user runtime directory
(platformdirs' ``user_runtime_dir``, or ``$SMSDESK_RUNTIME_DIR``), mode 0600
in a 0700 directory, and removes it when it stops. A file whose process is
gone (killed, power cut) is ignored and removed by the next reader. Nothing
secret is in it: the simulator's own endpoints need no credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from server.atomic_file import write_atomically

RUNTIME_ENV = "SMSDESK_RUNTIME_DIR"
PREFIX = "sim-"


@dataclass(frozen=True, slots=True)
class Running:
    """What a running simulator tells the ``smsdesk sim text`` of the same user."""

    pid: int
    sim_url: str
    relay_url: str = ""  # the demo's relay websocket, when the demo runs it
    home: str = ""  # the demo's data directory
    number: str = ""  # a number to text (the demo's US number)


def runtime_dir() -> Path:
    given = os.environ.get(RUNTIME_ENV)
    if given:
        return Path(given)
    with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": its /tmp fallback is fine
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir("smsdesk", appauthor=False))


def is_private(folder: Path) -> bool:
    """Ours and writable by nobody else: a shared /tmp fallback could be planted by another user."""
    try:
        info = folder.stat()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def announce(running: Running) -> Path | None:
    """Write the discovery file; None when the runtime directory is unusable.

    Not being findable is no reason to stop a simulator: ``sim text --sim``
    still works, so a failure here is only reported by the return value.
    """
    folder = runtime_dir()
    path = folder / f"{PREFIX}{running.pid}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not is_private(folder):
            return None
        write_atomically(path, json.dumps(asdict(running)).encode())
    except OSError:
        return None
    return path


def withdraw(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def find_running() -> Running | None:
    """The most recently started simulator that is still running, if any."""
    found: list[tuple[float, Running]] = []
    folder = runtime_dir()
    if not is_private(folder):
        return None
    with contextlib.suppress(OSError):
        for path in folder.glob(f"{PREFIX}*.json"):
            running = _read(path)
            if running is None:
                continue
            if not is_alive(running.pid):
                withdraw(path)  # left by a simulator that was killed
                continue
            with contextlib.suppress(OSError):
                found.append((path.stat().st_mtime, running))
    return max(found, key=lambda pair: pair[0])[1] if found else None


def _read(path: Path) -> Running | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        return Running(**data)
    except (OSError, ValueError, TypeError):
        return None


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that pid now
        return False
    except OSError:
        return False
    return True
