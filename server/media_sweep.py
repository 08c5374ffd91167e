"""Removing media nothing names any more (after a purge, and at each keeper pass).

Safe if the relay stops midway: the purge commits first and only then is media removed,
so a crash leaves at worst an unreferenced item, which the next sweep (the Trash keeper
runs one at start and every pass) removes. Media kept or uploaded within the grace
period is left alone, even if unreferenced: an agent's upload waits for its reply to name
it, and an inbound text's media is kept before its message commits (``MediaStore.put``
refreshes the time of media it finds already there, so re-used media is fresh too).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.media_refs import referenced_digests
from core.store import Store
from server.media import MediaStore

GRACE_S = 15 * 60.0


async def sweep_media(store: Store, media: MediaStore, *, grace_s: float = GRACE_S,
                      clock: Callable[[], float] = time.time) -> list[str]:
    """One sweep: what the store names is read first, then unnamed old media goes; returns
    the names removed, sorted."""
    referenced = await store.read(referenced_digests)
    return await media.sweep(referenced, now=clock(), grace_s=grace_s)
