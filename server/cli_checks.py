"""What a value on the ``smsdesk`` command line must look like, checked before anything runs.

Each checker is an argparse ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with the words the user sees. ``OneLineParser``
turns every such refusal into one line on stderr and exit status 2, instead
of argparse's usage block, so that a typo reads like the other CLI errors.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn
from urllib.parse import urlsplit


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals are one line: ``smsdesk relay: argument --port: ...``.

    ``add_subparsers`` builds sub-commands with the parent's class, so every
    ``smsdesk`` sub-command inherits this.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _refuse(message: str) -> NoReturn:
    raise argparse.ArgumentTypeError(message)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        _refuse(f"{text!r} is not a whole number")


def port_number(text: str) -> int:
    """A TCP port a server can be reached at: 1 to 65535."""
    port = _integer(text)
    if not 1 <= port <= 65535:
        _refuse(f"{port} is not a port: use 1 to 65535")
    return port


def port_or_any(text: str) -> int:
    """A TCP port, or 0 for "any free port" (the server prints the one it got)."""
    port = _integer(text)
    if not 0 <= port <= 65535:
        _refuse(f"{port} is not a port: use 1 to 65535, or 0 for any free port")
    return port


def http_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host, such as Twilio can reach."""
    return _url(text, ("http", "https"), "an http:// or https:// URL with a host")


def websocket_url(text: str) -> str:
    """Where the relay's websocket is: ws(s)://, or the relay's http(s):// address."""
    return _url(text, ("ws", "wss", "http", "https"), "the relay's address with a host, e.g."
                " ws://127.0.0.1:8080/ws")


def _url(text: str, schemes: tuple[str, ...], wanted: str) -> str:
    try:
        parts = urlsplit(text.strip())
        port_ok = parts.port is None or parts.port > 0  # .port raises on a bad port
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if parts.scheme.lower() not in schemes or not parts.hostname or not port_ok:
        _refuse(f"{text!r} is not {wanted}")
    return text.strip()


def database_url(text: str) -> str:
    """A PostgreSQL database as a URL: ``postgresql://user@host/db`` (``postgres://`` too).

    Only the URL form: libpq's ``key=value`` strings could be mistaken for file names.
    The refusal never repeats the text, which may hold a password.
    """
    text = text.strip()
    scheme, sep, _ = text.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        _refuse("a database is a postgresql:// URL, e.g. postgresql://smsdesk@db.example/smsdesk"
                " (without it, the SQLite file in SMSDESK_HOME is used)")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0  # .port raises on a bad port
    except ValueError:
        port_ok = False
    if not port_ok:
        _refuse("the database URL's port is not a port: use 1 to 65535")
    return text


def name(text: str) -> str:
    """A display name: anything but empty or only spaces; kept without outer spaces."""
    if not text.strip():
        _refuse("a name cannot be empty")
    return text.strip()


def positive_number(text: str) -> float:
    """A finite number above zero (a speed, a rate)."""
    try:
        value = float(text)
    except ValueError:
        _refuse(f"{text!r} is not a number")
    if not math.isfinite(value) or value <= 0:
        _refuse(f"{text} must be a number above 0")
    return value


def fail(prog: str, message: str, status: int = 1) -> int:
    """Say what went wrong in one line on stderr; return the exit status."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status
