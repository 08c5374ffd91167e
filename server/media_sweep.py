"""Removing media files nothing names any more (after a purge, and at each keeper pass).

Safe if the relay stops midway: the purge commits first and only then are files removed,
so a crash leaves at worst an unreferenced file, which the next sweep (the Trash keeper
runs one at start and every pass) removes. A file written or uploaded within the grace
period is left alone, even if unreferenced: an agent's upload waits for its reply to name
it, and an inbound text's media is stored before its message commits (store_bytes
refreshes the time of a file it finds already there, so a re-used file is fresh too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from core.media_refs import referenced_digests
from core.store import Store

GRACE_S = 15 * 60.0


def remove_unreferenced(folder: Path, referenced: set[str], *, now: float,
                        grace_s: float = GRACE_S) -> list[str]:
    """Delete the files under ``folder`` not in ``referenced`` and older than the grace
    period (blocking: run it in a thread); return the names removed, sorted."""
    removed = []
    for path in folder.glob("??/*"):
        name = path.name.removesuffix(".part")
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


async def sweep_media(store: Store, folder: Path, *, grace_s: float = GRACE_S,
                      clock: Callable[[], float] = time.time) -> list[str]:
    """One sweep: what the store names is read first, then unnamed old files go."""
    if not folder.is_dir():
        return []
    referenced = await store.read(referenced_digests)
    return await asyncio.to_thread(remove_unreferenced, folder, referenced, now=clock(),
                                   grace_s=grace_s)
