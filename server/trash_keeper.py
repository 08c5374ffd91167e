"""The relay's Trash keeper: purges tickets kept in the Trash longer than the admin allows.

Runs beside the outbox. Each pass is one store write (done on the writer's
thread, so the event loop never waits on SQLite), then a sweep of the media
nothing names any more (the purged tickets' and any a crash left), then it sleeps an hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core import trash
from core.models import now_ms
from core.store import Store
from core.writes import WriteContext
from server.media import MediaStore
from server.media_sweep import sweep_media

logger = logging.getLogger(__name__)

PASS_EVERY_S = 3600.0


async def purge_expired_once(store: Store, clock: Callable[[], int] = now_ms) -> list[int]:
    """One pass: purge what has outlived the retention as of ``clock()``; return the ids."""
    at = clock()

    def purge(ctx: WriteContext) -> list[int]:
        return trash.purge_expired(ctx, now=at)

    return await store.write(purge)


async def keep_trash(store: Store, media: MediaStore | None = None,
                     every_s: float = PASS_EVERY_S) -> None:
    """Purge expired tickets now and every ``every_s`` seconds, until cancelled; then
    remove the media no message names any more (committed first, media after)."""
    while True:
        try:
            purged = await purge_expired_once(store)
            if purged:
                logger.info("purged %d tickets from the Trash", len(purged))
            if media is not None:
                removed = await sweep_media(store, media)
                if removed:
                    logger.info("removed %d media items no message names", len(removed))
        except Exception:  # a busy file or a bad setting: try again next pass
            logger.exception("could not purge the Trash")
        await asyncio.sleep(every_s)
