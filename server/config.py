"""Where the relay keeps its data, and the few settings it needs to start.

``SMSDESK_HOME`` names the data directory (database, media, config); without
it, platformdirs' per-user data directory. ``--database postgresql://...`` (or
``SMSDESK_DATABASE``) puts the database on PostgreSQL instead, shared by several
relays; media and config stay in the data directory. ``SMSDESK_TWILIO_API_URL`` points
every Twilio call at another base URL, which is how the demo and the tests
talk to the simulator through the real twilio SDK.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import platformdirs

from core.db import Locator

TWILIO_API_URL = "https://api.twilio.com"


DATABASE_ENV = "SMSDESK_DATABASE"


@dataclass(frozen=True, slots=True)
class Paths:
    home: Path
    url: str | None = None  # a PostgreSQL database; None: the SQLite file in ``home``

    @property
    def database(self) -> Path:
        """The SQLite file (used only when no PostgreSQL ``url`` is given)."""
        return self.home / "smsdesk.sqlite3"

    @property
    def store(self) -> Locator:
        """What ``Store.open`` takes: the PostgreSQL URL, else the SQLite file."""
        return self.url or self.database

    def described(self) -> str:
        """Where the data is, for messages: never with the URL's password."""
        return masked(self.url) if self.url else str(self.database)

    @property
    def media(self) -> Path:
        return self.home / "media"


class UnusableHome(Exception):
    """The data directory or its database cannot be used; the message says which and why."""


SQLITE_HEADER = b"SQLite format 3\x00"


def data_paths(database: str | None = None) -> Paths:
    """The data directory, created if needed, refused in words if it cannot hold smsdesk's data.

    Checked here, before SQLite or the store open anything, so that a wrong
    ``SMSDESK_HOME`` is one clear line and not a traceback from deep inside.
    ``database`` (``--database``, already checked), else ``SMSDESK_DATABASE``, names a
    PostgreSQL database; the SQLite file is then not looked at.
    """
    url = database or database_from_env()
    given = os.environ.get("SMSDESK_HOME")
    named = "SMSDESK_HOME" if given else "the data directory"
    path = Path(given or platformdirs.user_data_dir("smsdesk", appauthor=False)).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise UnusableHome(f"{named} {path} {_why_not_a_directory(path, error)}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UnusableHome(f"{named} {path} is not writable by this user")
    paths = Paths(path, url)
    if url is None:
        check_database(paths.database)
    return paths


def database_from_env() -> str | None:
    """``SMSDESK_DATABASE``, checked as ``--database`` is; None when unset or empty."""
    from server.cli_checks import database_url

    given = os.environ.get(DATABASE_ENV, "").strip()
    if not given:
        return None
    try:
        return database_url(given)
    except argparse.ArgumentTypeError as error:
        raise UnusableHome(f"{DATABASE_ENV}: {error}") from None


def masked(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(an unreadable database URL)"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = "&".join("password=***" if item.lower().startswith("password=") else item
                     for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def without_secrets(text: str, url: str | None) -> str:
    """``text`` (say, a driver's error) with ``url``'s password replaced by ***, if it shows."""
    if not url:
        return text
    text = text.replace(url, masked(url))
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


def _passwords(url: str) -> set[str]:
    """The passwords in ``url``, as written and decoded (long enough to replace safely)."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return set()
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if key.lower() == "password":
            found.append(value)
    return {s for secret in found for s in (secret, unquote(secret)) if len(s) >= 4}


def _why_not_a_directory(path: Path, error: OSError) -> str:
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            return "is a file, not a directory" if place == path else f"is inside a file ({place})"
    return f"cannot be created: {error.strerror or error}"


def check_database(file: Path) -> None:
    """Refuse a directory or a file that is not SQLite where the database goes.

    SQLite would say "file is not a database" from deep inside the store; an
    empty file is fine (SQLite makes a new database in it).
    """
    if file.is_dir():
        raise UnusableHome(f"the database {file} is a directory, not a file")
    try:
        with file.open("rb") as opened:
            header = opened.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        raise UnusableHome(f"the database {file} cannot be read: {error.strerror}") from None
    if header and header != SQLITE_HEADER:
        raise UnusableHome(f"{file} is not an SQLite database: move it away, or point"
                           " SMSDESK_HOME at another directory")


def twilio_api_url() -> str:
    return os.environ.get("SMSDESK_TWILIO_API_URL", TWILIO_API_URL).rstrip("/")
