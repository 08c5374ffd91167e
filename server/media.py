"""Media: fetched from Twilio with the account's credentials, kept by hash in a MediaStore.

Credentials go only to the account's own media URLs on Twilio's API host; a
webhook naming any other URL (a forged one trying to harvest the auth token)
gets nothing. Twilio answers a media URL with a redirect to its CDN, which is
followed without credentials.

Every caller (webhooks, agents' uploads and fetches, the signed outbound URLs, the
sweep) goes through the ``MediaStore`` protocol, so where the bytes live (files here,
a database table for several relays) is decided once, where the relay is built.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol
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


class MediaStore(Protocol):
    """Where media bytes are kept, each once under its sha256 (hex, lowercase).

    Every method is a coroutine and keeps any blocking I/O off the event loop. A digest
    that is not 64 lowercase hex characters is simply not there (never an error): it
    comes from agents and URLs.
    """

    async def put(self, data: bytes) -> str:
        """Keep ``data`` (whole before this returns, or not at all) and return its sha256.
        Keeping bytes already there refreshes their time, so the sweep's grace covers the
        message about to name them."""
        ...

    async def read(self, digest: str) -> bytes | None:
        """The bytes kept under ``digest``, or None."""
        ...

    async def size(self, digest: str) -> int | None:
        """How many bytes are kept under ``digest``, or None if none are."""
        ...

    async def exists(self, digest: str) -> bool:
        """Whether bytes are kept under ``digest``."""
        ...

    async def sweep(self, referenced: set[str], *, now: float, grace_s: float) -> list[str]:
        """Remove what is not in ``referenced`` and was kept (or refreshed) more than
        ``grace_s`` seconds before ``now`` (epoch seconds); return what went, sorted."""
        ...

    async def close(self) -> None:
        """Release what the store holds (a database pool); the relay calls it on stopping."""
        ...


def is_digest(digest: str) -> bool:
    """A sha256 as we write it: 64 lowercase hex characters (so it is safe in a path)."""
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


class FileMediaStore:
    """Media as files: ``<folder>/<first 2 hex>/<sha256>``, written with fsync and a rename,
    so a crash leaves a whole file or an unnamed temporary one the sweep removes. The time
    of a file is its mtime. Several relays share it only through a shared folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"FileMediaStore({str(self.folder)!r})"

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(store_bytes, self.folder, data)

    async def close(self) -> None:
        """Files hold nothing open between calls."""

    async def read(self, digest: str) -> bytes | None:
        return await asyncio.to_thread(self._read, digest)

    async def size(self, digest: str) -> int | None:
        return await asyncio.to_thread(self._size, digest)

    async def exists(self, digest: str) -> bool:
        return await self.size(digest) is not None

    async def sweep(self, referenced: set[str], *, now: float, grace_s: float) -> list[str]:
        return await asyncio.to_thread(remove_unreferenced, self.folder, referenced, now=now,
                                       grace_s=grace_s)

    def _read(self, digest: str) -> bytes | None:
        path = path_of(self.folder, digest)
        try:
            return None if path is None else path.read_bytes()
        except FileNotFoundError:  # swept between the look and the read
            return None

    def _size(self, digest: str) -> int | None:
        path = path_of(self.folder, digest)
        try:
            return None if path is None else path.stat().st_size
        except FileNotFoundError:
            return None


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
    """The file kept under ``digest`` in ``folder``, if there is one (blocking)."""
    if not is_digest(digest):
        return None
    path = folder / digest[:2] / digest
    return path if path.exists() else None


def remove_unreferenced(folder: Path, referenced: set[str], *, now: float,
                        grace_s: float) -> list[str]:
    """Delete the files under ``folder`` not in ``referenced`` and older than the grace
    period (blocking: run it in a thread); return the names removed, sorted."""
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.glob("??/*"):  # also temporary files a crash left
        name = path.name.removesuffix(".part")  # how earlier versions named theirs
        if name in referenced and not path.name.endswith(".part"):
            continue
        try:
            if path.stat().st_mtime > now - grace_s:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path.name)
    return sorted(removed)
