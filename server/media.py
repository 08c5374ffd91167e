"""Media files: fetched from Twilio with the account's credentials, kept by hash.

Credentials go only to the account's own media URLs on Twilio's API host; a
webhook naming any other URL (a forged one trying to harvest the auth token)
gets nothing. Twilio answers a media URL with a redirect to its CDN, which is
followed without credentials.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

from server.atomic_file import write_atomically
from server.config import twilio_api_url

MAX_MEDIA_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 10


class MediaRefused(ValueError):
    pass


def is_twilio_media_url(url: str, account_sid: str) -> bool:
    """True only for this account's media on Twilio's API host (https, or the simulator)."""
    api = urlparse(twilio_api_url())
    target = urlparse(url)
    return (
        target.scheme == api.scheme
        and target.netloc == api.netloc
        and target.path.startswith(f"/2010-04-01/Accounts/{account_sid}/Messages/")
        and "/Media/" in target.path
        and ".." not in target.path
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def download(url: str, *, account_sid: str, auth_token: str) -> tuple[bytes, str]:
    """Fetch one media item (blocking: run it in a thread). Returns (bytes, content type)."""
    if not is_twilio_media_url(url, account_sid):
        raise MediaRefused(f"not a Twilio media URL of account {account_sid}: {url}")
    credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {credentials}"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as answer:
        if answer.code not in (301, 302, 303, 307, 308):
            raise
        location = urljoin(url, answer.headers.get("Location", ""))
        # The CDN gets no credentials: they are for api.twilio.com only.
        response = urllib.request.build_opener(_NoRedirect).open(
            urllib.request.Request(location), timeout=TIMEOUT_SECONDS
        )
    with response:
        data = response.read(MAX_MEDIA_BYTES + 1)
        kind = response.headers.get_content_type()
    if len(data) > MAX_MEDIA_BYTES:
        raise MediaRefused(f"media larger than {MAX_MEDIA_BYTES} bytes")
    return data, kind


def store_bytes(folder: Path, data: bytes) -> str:
    """Keep ``data`` under its sha256 (the same file is kept once); return the hash.

    A file already there gets a fresh time: it is about to be named again, and the media
    sweep (server/media_sweep.py) leaves recent files alone until their message commits.
    Each writer has its own temporary file (server/atomic_file.py), so two keeping the
    same bytes at once (two agents, two relays) each rename a whole file into place; one a
    crash leaves is unnamed, and the sweep removes it.
    """
    digest = hashlib.sha256(data).hexdigest()
    path = folder / digest[:2] / digest
    try:
        os.utime(path)
    except FileNotFoundError:
        write_atomically(path, data)
    return digest


def path_of(folder: Path, digest: str) -> Path | None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    path = folder / digest[:2] / digest
    return path if path.exists() else None
