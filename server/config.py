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


def data_paths() -> Paths:
    home = os.environ.get("SMSDESK_HOME") or platformdirs.user_data_dir("smsdesk", appauthor=False)
    path = Path(home).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Paths(path)


def twilio_api_url() -> str:
    return os.environ.get("SMSDESK_TWILIO_API_URL", TWILIO_API_URL).rstrip("/")
