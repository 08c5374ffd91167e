"""Starting the relay: open the store, build the ASGI app, serve it with uvicorn (h11)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn

from core import queries, writes
from core.models import SenderType
from core.protocol import MAX_MESSAGE_BYTES
from core.settings import setting_or_init
from core.store import Store
from server.app import Relay
from server.config import Paths
from server.mail_inbound import MailListener, start_mail_listener
from server.mail_outbox import MailOutbox
from server.media_db import media_store_for
from server.outbox import SENDS_PER_SECOND, Outbox
from server.sla_watch import SlaWatch
from server.trash_keeper import keep_trash

logger = logging.getLogger(__name__)

PUBLIC_URL = "public_url"
MEDIA_SECRET = "media_secret"


class RelayStartError(Exception):
    """The relay cannot serve (its address is taken or does not exist); says why in one line."""


def http_address(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 host in brackets as URLs need it."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or RelayStartError.

    Bound here rather than by uvicorn: on a busy port uvicorn logs errno 98 and
    calls ``sys.exit`` inside its serving task, which left ``smsdesk relay``
    running with nothing listening instead of exiting with a reason.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except (OSError, OverflowError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        reason = reason.split(" (while attempting to bind")[0]  # create_server's addition
        raise RelayStartError(f"cannot listen on {host}:{port}: {reason}") from None


async def public_url_of(store: Store, given: str | None, *, host: str, port: int) -> str:
    """The URL Twilio reaches us at: as given (and remembered), else as last given."""
    if given:
        await store.write(writes.save_setting, PUBLIC_URL, given.rstrip("/"))
        return given.rstrip("/")
    saved = await store.read(queries.setting, PUBLIC_URL)
    return saved or http_address(host, port)


async def media_secret_of(store: Store) -> bytes:
    """The key media URLs are signed with: made by the first relay on this database, then
    shared, so any relay serves any relay's URLs (one write, no read-then-write race)."""
    return bytes.fromhex(await store.write(setting_or_init, MEDIA_SECRET,
                                           secrets.token_hex(32)))


@asynccontextmanager
async def running_relay(
    paths: Paths, *, public_url: str | None, host: str, port: int,
    rates: dict[SenderType, float] | None = None,
    mail_port: int | None = None, mail_host: str | None = None, lmtp: bool = False,
    on_mail: Callable[[MailListener], None] = lambda listener: None,
) -> AsyncIterator[tuple[Relay, uvicorn.Server]]:
    """The relay serving on host:port until the block ends (for the CLI, demo and tests).

    Mail comes in (server/mail_inbound.py) on ``mail_port``/``mail_host`` when given,
    else as the email settings say; ``on_mail`` is told where it listens.
    """
    listening = listening_socket(host, port)  # first: a busy port fails before anything opens
    try:
        paths.media.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = await Store.open(paths.store)
    except BaseException:
        listening.close()
        raise
    # Files under the home for a SQLite desk; the media table on PostgreSQL, so that
    # every relay serves every attachment (and Twilio may fetch from any of them).
    media = media_store_for(store, paths.home)
    sending: asyncio.Task[None] | None = None
    mailing: asyncio.Task[None] | None = None
    keeping: asyncio.Task[None] | None = None
    watching: asyncio.Task[None] | None = None
    beating: asyncio.Task[None] | None = None
    mail: MailListener | None = None
    try:
        relay = Relay(
            store=store,
            public_url=await public_url_of(store, public_url, host=host, port=port),
            media=media,
            media_secret=await media_secret_of(store),
        )
        outbox = Outbox(store=store, public_url=lambda: relay.public_url,
                        media_url=relay.media_url,
                        rates={**SENDS_PER_SECOND, **(rates or {})})
        relay.on_queued = outbox.wake  # this relay's replies: at once
        store.on_commit(outbox.notice)  # any relay's replies (on PostgreSQL, via NOTIFY)
        relay.presence.share_through(store)
        sending = asyncio.create_task(outbox.run(), name="outbox")
        mail_outbox = MailOutbox(store=store, media=media)
        store.on_commit(mail_outbox.notice)  # any relay's email replies wake it
        mailing = asyncio.create_task(mail_outbox.run(), name="mail outbox")
        keeping = asyncio.create_task(keep_trash(store, relay.media), name="trash keeper")
        watching = asyncio.create_task(SlaWatch(store).run(), name="sla watch")
        beating = asyncio.create_task(relay.presence.keep_alive(), name="presence beat")
        mail = await start_mail_listener(store, media, port=mail_port, host=mail_host,
                                         lmtp=lmtp, bind=listening_socket)
        if mail is not None:
            on_mail(mail)
        config = uvicorn.Config(
            relay, host=host, port=port, http="h11", ws="websockets-sansio", lifespan="off",
            log_level="warning", timeout_keep_alive=5, ws_max_size=MAX_MESSAGE_BYTES,
            # Events are small JSON; compressing each for each agent cost more CPU
            # than the whole webhook (bench/ingest.py). Agents on slow links can
            # still get compression from a TLS-terminating proxy.
            ws_per_message_deflate=False,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        while not server.started:
            if serving.done():
                serving.result()  # raises why it could not start (port in use, ...)
            await asyncio.sleep(0.01)
        try:
            yield relay, server
        finally:
            server.should_exit = True
            await serving
    finally:
        if mail is not None:
            await mail.close()
        # also when uvicorn failed to start
        for task in (sending, mailing, keeping, watching, beating):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        listening.close()  # uvicorn closes its own server; this covers a failed start
        await media.close()
        await store.close()


def bound_port(server: uvicorn.Server) -> int:
    """The port actually bound (useful with port 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the relay is not listening")


async def serve_forever(paths: Paths, *, public_url: str | None, host: str, port: int,
                        rates: dict[SenderType, float] | None = None,
                        mail_port: int | None = None, mail_host: str | None = None,
                        lmtp: bool = False) -> None:
    def say_where(mail: MailListener) -> None:
        where, listening_on = mail.address
        print(f"smsdesk relay takes mail ({mail.kind}) on {where}:{listening_on}", flush=True)

    async with running_relay(paths, public_url=public_url, host=host, port=port,
                             rates=rates, mail_port=mail_port, mail_host=mail_host,
                             lmtp=lmtp, on_mail=say_where) as (relay, srv):
        print(f"smsdesk relay on {http_address(host, bound_port(srv))}"
              f"  (public URL {relay.public_url}; database {paths.described()})",
              flush=True)
        while not srv.should_exit:
            await asyncio.sleep(0.2)
