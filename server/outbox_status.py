"""Asking Twilio how replies went when their status callbacks never came.

Twilio calls a reply's StatusCallback as it moves to sent, delivered, undelivered or
failed, once each, and does not try again: a callback that found the relays down, or
was lost on the way, leaves the reply ``queued`` or ``sent`` here for good, and the
agent never learns it failed. So the relay leading the outbox asks Twilio now and then
about replies whose status has not moved for a while, a few at a time (a backlog never
floods Twilio), and records what it hears through the very write a callback uses: the
agents get the same event, and a late callback never moves a final status back.
Twilio keeps a message's in-flight state for a few days; older replies are not asked
about, nor are those Twilio no longer has (a 404), which are left as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from core import queries, writes
from core.errors import is_retryable
from core.models import Account, MessageStatus, now_ms
from core.store import DatabaseUnavailable, Lead, Store
from core.tickets import status_moves_forward
from server import twilio_api

logger = logging.getLogger(__name__)

#: How often the outbox's leader asks (and once as it takes the lead).
EVERY_SECONDS = 60.0
#: How long a reply's status must have stood still before Twilio is asked about it.
QUIET_SECONDS = 120.0
#: How long after its creation a reply is still asked about: Twilio's in-flight states end.
IN_FLIGHT_SECONDS = 72 * 3600.0
#: At most this many replies are asked about in one pass, those unchanged longest first.
BATCH = 50


@dataclass(frozen=True, slots=True)
class StatusPolling:
    """When and how much to ask; the defaults are read when made, so tests may shorten them."""

    every: float = field(default_factory=lambda: EVERY_SECONDS)
    quiet: float = field(default_factory=lambda: QUIET_SECONDS)
    in_flight: float = field(default_factory=lambda: IN_FLIGHT_SECONDS)
    batch: int = field(default_factory=lambda: BATCH)


@dataclass
class StatusPoller:
    """Asks Twilio about quiet replies while a lead lasts; walks a long backlog in turns."""

    store: Store
    polling: StatusPolling = field(default_factory=StatusPolling)
    _after: tuple[int, int] | None = None  # where the next pass goes on in the backlog
    _gone: set[str] = field(default_factory=set)  # SIDs Twilio answered 404 for

    async def poll_while(self, lead: Lead) -> None:
        """A pass now, then one every ``polling.every`` seconds, until ``lead`` is lost."""
        while not lead.lost.is_set():
            try:
                await self.poll_once(lead)
            except DatabaseUnavailable as away:
                logger.warning("status polling skipped: %s", away)
            except Exception:
                logger.exception("asking Twilio about replies' statuses failed; trying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lead.lost.wait(), self.polling.every)

    async def poll_once(self, lead: Lead | None = None) -> int:
        """One pass over the next few quiet replies; how many Twilio was asked about."""
        now = now_ms()
        replies = await self.store.read(
            queries.unsettled_replies, quiet_since=now - int(self.polling.quiet * 1000),
            created_since=now - int(self.polling.in_flight * 1000), after=self._after,
            limit=self.polling.batch)
        last = replies[-1].message if replies else None
        self._after = (last.updated_at, last.id) if last is not None and len(replies) == (
            self.polling.batch) else None  # a short pass reached the end: start over next time
        accounts = {account.id: account for account in await self.store.read(queries.accounts)}
        asked = 0
        for reply in replies:
            if lead is not None and lead.lost.is_set():
                break  # another relay may lead by now: it asks
            sid = reply.message.twilio_sid
            account = accounts.get(reply.account_id)
            if sid is None or sid in self._gone or account is None:
                continue
            asked += 1
            if not await self._ask(account, sid, reply.message.status):
                break
        return asked

    async def _ask(self, account: Account, sid: str, known: MessageStatus) -> bool:
        """Ask about one reply and record a change; False when the pass should stop here."""
        try:
            found = await asyncio.to_thread(
                twilio_api.fetch_message, account.sid, account.auth_token, sid)
        except twilio_api.TwilioRestException as refused:
            if twilio_api.is_gone(refused):
                logger.info("Twilio no longer has message %s; not asking about it again", sid)
                self._gone.add(sid)
                return True
            if is_retryable(refused.status, refused.code):
                logger.warning("Twilio is busy (%s); asking about the rest later", refused.code)
                return False
            logger.warning("Twilio refused to say how message %s went: %s", sid, refused.msg)
            return True
        except Exception as error:  # network: the next pass asks again
            logger.warning("cannot ask Twilio about message %s now: %s", sid, error)
            return False
        try:
            status = MessageStatus(found.status)
        except ValueError:
            logger.warning("Twilio says message %s is %r, a status smsdesk does not know",
                           sid, found.status)
            return True
        if status_moves_forward(known, status):  # else a write would change nothing
            await self.store.write(writes.record_status, sid, status, found.error_code)
        return True
