"""Outbound MMS: fetching each MediaUrl as Twilio does before it sends the message.

Twilio accepts a create request with MediaUrl at once (201, ``queued``), then GETs each
URL; what it gets decides whether the message goes. Twilio reads the type from the
answer's Content-Type header, not from the URL, and refuses a type it does not accept
for MMS, a URL it cannot fetch, and media adding up to more than 5 MB: the message ends
``failed`` with the error code (see ``State.refuse_media``).

Blocking (urllib): the runner calls ``fetch_all`` in a thread.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from core.preflight import MAX_MEDIA_TOTAL_BYTES

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Fetched:
    """What one GET of a MediaUrl gave: the bytes and their type, or why there are none."""

    url: str
    content_type: str = ""  # the media type of the Content-Type header, lower case
    data: bytes = b""
    error: str = ""  # "" when the GET answered 200

    @property
    def ok(self) -> bool:
        return not self.error


def fetch(url: str, *, limit: int = MAX_MEDIA_TOTAL_BYTES,
          timeout: float = TIMEOUT_SECONDS) -> Fetched:
    """GET ``url`` (redirects followed, no credentials: a MediaUrl must be public).

    At most ``limit + 1`` bytes are read: enough to know the media is over the limit.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "TwilioProxy/1.1",
                                                   "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            data = answer.read(limit + 1)
            declared = answer.headers.get("Content-Type") or ""
    except urllib.error.HTTPError as error:
        return Fetched(url, error=f"HTTP {error.code} from {url}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Fetched(url, error=f"could not fetch {url}: {getattr(error, 'reason', error)}")
    media_type = declared.split(";", 1)[0].strip().lower()
    return Fetched(url, media_type, data)


def fetch_all(urls: list[str], *, limit: int = MAX_MEDIA_TOTAL_BYTES) -> list[Fetched]:
    """Each URL in order, stopping early once the bytes so far are over ``limit``."""
    fetched: list[Fetched] = []
    total = 0
    for url in urls:
        item = fetch(url, limit=max(0, limit - total))
        fetched.append(item)
        total += len(item.data)
        if not item.ok or total > limit:
            break
    return fetched
