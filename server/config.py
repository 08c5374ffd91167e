"""Where the relay keeps its data, and the few settings it needs to start.

``SMSDESK_HOME`` names the data directory (database, media, config); without
it, platformdirs' per-user data directory. ``SMSDESK_TWILIO_API_URL`` points
every Twilio call at another base URL, which is how the demo and the tests
talk to the simulator through the real twilio SDK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

TWILIO_API_URL = "https://api.twilio.com"


@dataclass(frozen=True, slots=True)
class Paths:
    home: Path

    @property
    def database(self) -> Path:
        return self.home / "smsdesk.sqlite3"

    @property
    def media(self) -> Path:
        return self.home / "media"


class UnusableHome(Exception):
    """The data directory or its database cannot be used; the message says which and why."""


SQLITE_HEADER = b"SQLite format 3\x00"


def data_paths() -> Paths:
    """The data directory, created if needed, refused in words if it cannot hold smsdesk's data.

    Checked here, before SQLite or the store open anything, so that a wrong
    ``SMSDESK_HOME`` is one clear line and not a traceback from deep inside.
    """
    given = os.environ.get("SMSDESK_HOME")
    named = "SMSDESK_HOME" if given else "the data directory"
    path = Path(given or platformdirs.user_data_dir("smsdesk", appauthor=False)).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise UnusableHome(f"{named} {path} {_why_not_a_directory(path, error)}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UnusableHome(f"{named} {path} is not writable by this user")
    paths = Paths(path)
    check_database(paths.database)
    return paths


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
