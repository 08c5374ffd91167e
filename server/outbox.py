"""Sending agents' replies to Twilio: once, in order, within each sender's rate.

A reply is already durable as ``queued`` when the agent is told it was
accepted. Before each send the outbox records ``sending``; only then does it
call Twilio, and it records the SID Twilio returns. A message left in
``sending`` without a SID (the relay died mid-call, or the call timed out or
failed on the network) may or may not have reached Twilio, so it is never
simply sent again: it is first looked for in Twilio's message list.

With several relays on one PostgreSQL database, only the relay leading the
outbox (``store.leadership``) sends, so each reply is sent once and each
sender's rate holds across relays. Every relay's outbox waits its turn; when
the leader dies another takes over and treats what the leader left in
``sending`` as a restart does, after a grace long enough for any call the old
leader started to have ended. A reply queued through any relay wakes the
leader: its events reach every relay's store listeners.

Each sender's rate holds across a change of leader, and across a restart: the leader
seeds its rate limiter from the store as it takes the lead (when each number last
handed a reply to Twilio), so its first send from a number waits its turn. While it
leads, it also asks Twilio about replies whose status callbacks never came
(``server.outbox_status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core import queries, writes
from core.errors import is_retryable
from core.models import Event, Message, MessageStatus, SenderType, now_ms
from core.store import DatabaseUnavailable, Lead, Store
from core.writes import WriteContext
from server import twilio_api
from server.outbox_status import StatusPoller, StatusPolling

logger = logging.getLogger(__name__)

SENDS_PER_SECOND: dict[SenderType, float] = {
    SenderType.LONG_CODE: 1.0,
    SenderType.TOLL_FREE: 3.0,
    SenderType.SHORT_CODE: 100.0,
    SenderType.ALPHANUMERIC: 10.0,
}
MAX_BACKOFF = 60.0
POLL_SECONDS = 5.0
# After taking over from another relay, a message it left in ``sending`` waits this long
# before being looked up at Twilio: a call the old leader started has then either reached
# Twilio or given up (its timeout), and the leader notices a lost lead within seconds.
TAKEOVER_GRACE = twilio_api.TIMEOUT_SECONDS + 5.0
# How far back a new leader looks for each sender's last send: far longer than the slowest
# rate's spacing (1 s), so relays' clocks a little apart cannot hide a recent send.
TURNS_LOOKBACK_SECONDS = 60.0


@dataclass
class RateLimiter:
    """Spaces sends from one sender at least 1/rate seconds apart."""

    rates: dict[SenderType, float]
    _next: dict[str, float] = field(default_factory=dict)

    async def wait_turn(self, sender: str, kind: SenderType) -> None:
        now = time.monotonic()
        turn = max(now, self._next.get(sender, now))
        self._next[sender] = turn + 1.0 / self.rates.get(kind, 1.0)
        if turn > now:
            await asyncio.sleep(turn - now)

    def seed(self, sender: str, kind: SenderType, last_sent_ms: int) -> None:
        """Count a send this limiter did not see (another relay's, or before a restart):
        the next send from ``sender`` waits 1/rate after it, as if it had been seen."""
        ago = max(0.0, time.time() - last_sent_ms / 1000)
        turn = time.monotonic() - ago + 1.0 / self.rates.get(kind, 1.0)
        if turn > self._next.get(sender, 0.0):
            self._next[sender] = turn


@dataclass
class Outbox:
    store: Store
    public_url: Callable[[], str]
    media_url: Callable[..., str]
    rates: dict[SenderType, float] = field(default_factory=lambda: dict(SENDS_PER_SECOND))
    takeover_grace: float = field(default_factory=lambda: TAKEOVER_GRACE)
    status_polling: StatusPolling = field(default_factory=StatusPolling)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _retry_at: dict[int, tuple[float, float]] = field(default_factory=dict)  # id: (when, delay)
    _lead: Lead | None = None
    _in_doubt_from: float = 0.0  # monotonic time from which ``sending`` is reconciled
    _statuses: StatusPoller | None = None  # kept across leads: it remembers what is gone

    @property
    def statuses(self) -> StatusPoller:
        if self._statuses is None:
            self._statuses = StatusPoller(self.store, self.status_polling)
        return self._statuses

    def wake(self) -> None:
        self._wake.set()

    def notice(self, events: list[Event]) -> None:
        """A store commit listener: wake when a commit (of any relay) left a reply queued."""
        if any(queues_a_message(event) for event in events):
            self._wake.set()

    async def run(self) -> None:
        """Work until cancelled, whenever this relay leads the outbox."""
        limiter = RateLimiter(self.rates)
        while True:
            async with self.store.leadership("outbox") as lead:
                await self._lead_until_lost(lead, limiter)
            logger.warning("no longer sending replies: waiting to lead the outbox again")

    async def _lead_until_lost(self, lead: Lead, limiter: RateLimiter) -> None:
        """Reconcile what is in doubt, then send what is queued, until ``lead`` is lost;
        meanwhile ask Twilio about replies whose status callbacks never came."""
        self._lead = lead
        self._in_doubt_from = time.monotonic() + (self.takeover_grace if lead.takeover else 0)
        lost = asyncio.create_task(lead.lost.wait())
        lost.add_done_callback(lambda _: self._wake.set())
        polling: asyncio.Task[None] | None = None
        try:
            await self.seed_turns(limiter)
            polling = asyncio.create_task(self.statuses.poll_while(lead), name="status polling")
            await self._send_while(lead, limiter)
        finally:
            lost.cancel()
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            self._lead = None

    async def seed_turns(self, limiter: RateLimiter) -> None:
        """Tell ``limiter`` when each sender last handed a reply to Twilio, as the store
        says: a relay taking the lead (or restarting) then never sends a burst from a
        number the previous leader had just used."""
        since = now_ms() - int(TURNS_LOOKBACK_SECONDS * 1000)
        try:
            turns = await self.store.read(queries.recent_sender_turns, since)
        except Exception:
            logger.exception("cannot read senders' last sends; waiting the longest turn"
                             " before sending instead")
            await asyncio.sleep(max((1.0 / rate for rate in limiter.rates.values()),
                                    default=1.0))
            return
        for turn in turns:
            limiter.seed(turn.number.e164, turn.number.sender_type, turn.last_handed_at)

    async def _send_while(self, lead: Lead, limiter: RateLimiter) -> None:
        while not lead.lost.is_set():
            self._wake.clear()
            try:
                await self.work_once(limiter)
            except DatabaseUnavailable as away:  # said once by the store, with its reason
                logger.warning("outbox pass skipped: %s", away)
            except Exception:
                logger.exception("outbox pass failed; trying again shortly")
            next_retry = min((when for when, _ in self._retry_at.values()), default=None)
            timeout = POLL_SECONDS if next_retry is None else max(
                0.0, min(POLL_SECONDS, next_retry - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def work_once(self, limiter: RateLimiter) -> None:
        for message in await self.store.read(queries.outbox):
            if self._lead is not None and self._lead.lost.is_set():
                return  # another relay may lead by now: it sends the rest
            when, _ = self._retry_at.get(message.id, (0.0, 0.0))
            if when > time.monotonic():
                continue
            if message.status is MessageStatus.SENDING and time.monotonic() < (
                    self._in_doubt_from):
                self._retry_at[message.id] = (self._in_doubt_from, 0.5)
                continue
            await self._handle(message, limiter)

    async def _handle(self, message: Message, limiter: RateLimiter) -> None:
        ticket = await self.store.read(writes.ticket_by_id, message.ticket_id)
        sender = await self.store.read(writes.number_by_id,
                                       message.from_number_id or ticket.number_id)
        account = await self.store.read(writes.account_by_id, sender.account_id)
        to = ticket.customer_phone  # the phone this conversation is with, of the contact's
        if message.status is MessageStatus.SENDING:
            checked, found = await self._find_at_twilio(
                account.sid, account.auth_token, message, to=to, from_=sender.e164
            )
            if not checked:
                return
            if found is not None:
                await self._record_sid(message, found.sid, found.status)
                return
        else:
            claimed = await self.store.write(claim, message.id)
            if claimed is None or claimed.status is not MessageStatus.SENDING:
                # Another relay's outbox claimed it (two leaders for a moment), it moved on,
                # or its author was disabled after queueing it (not sent, marked failed).
                return
        await limiter.wait_turn(sender.e164, sender.sender_type)
        try:
            sent = await asyncio.to_thread(
                twilio_api.send_message, account.sid, account.auth_token, to=to,
                from_=sender.e164, body=message.body,
                media_urls=[self.media_url(item) for item in message.media],
                status_callback=f"{self.public_url().rstrip('/')}/twilio/status",
            )
        except twilio_api.TwilioRestException as refused:
            if is_retryable(refused.status, refused.code):
                self._back_off(message.id)
                return
            await self.store.write(writes.mark_failed, message.id, error_code=refused.code)
            self._retry_at.pop(message.id, None)
            return
        except Exception as error:  # network: Twilio may or may not have it
            logger.warning("sending message %s failed: %s", message.id, error)
            self._back_off(message.id)
            return
        await self._record_sid(message, sent.sid, sent.status)

    async def _find_at_twilio(
        self, sid: str, token: str, message: Message, *, to: str, from_: str
    ) -> tuple[bool, twilio_api.SentInfo | None]:
        """(whether Twilio could be asked, our message in its list if an attempt reached it)."""
        since = dt.datetime.fromtimestamp(message.created_at / 1000 - 60, tz=dt.UTC)
        try:
            candidates = await asyncio.to_thread(
                twilio_api.messages_sent_since, sid, token, to=to, from_=from_, since=since
            )
        except Exception as error:
            logger.warning("cannot check Twilio for message %s yet: %s", message.id, error)
            self._back_off(message.id)
            return False, None
        for candidate in candidates:
            if candidate.body == message.body and (
                await self.store.read(queries.message_by_sid, candidate.sid) is None
            ):
                return True, candidate
        return True, None

    async def _record_sid(self, message: Message, sid: str, status: str) -> None:
        try:
            reported = MessageStatus(status)
        except ValueError:
            reported = MessageStatus.QUEUED
        # attach_sid also applies any status callback that came before it.
        await self.store.write(writes.attach_sid, message.id, sid=sid, status=reported)
        self._retry_at.pop(message.id, None)

    def _back_off(self, message_id: int) -> None:
        _, delay = self._retry_at.get(message_id, (0.0, 0.5))
        delay = min(delay * 2, MAX_BACKOFF)
        self._retry_at[message_id] = (time.monotonic() + delay, delay)


def claim(ctx: WriteContext, message_id: int) -> Message | None:
    """Mark a queued reply ``sending`` for this outbox; None if it is no longer queued.

    ``mark_sending`` alone returns a message already ``sending`` as it is, which a second
    outbox would take as its own claim; checked here inside the same transaction (under
    the store's write lock), only one outbox can ever claim a reply.
    """
    current = writes.entry_by_id(ctx.conn, message_id)
    if not isinstance(current, Message) or current.status is not MessageStatus.QUEUED or (
            current.twilio_sid):
        return None
    return writes.mark_sending(ctx, message_id)


def queues_a_message(event: Event) -> bool:
    """Whether ``event`` leaves an outbound message queued for the outbox."""
    if event.kind not in ("message.created", "message.updated"):
        return False
    message = event.payload.get("message")
    return isinstance(message, dict) and message.get("status") == MessageStatus.QUEUED.value \
        and message.get("direction") == "outbound"
