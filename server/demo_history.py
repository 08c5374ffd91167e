"""A week of the demo desk's past, so that its Reports screen opens on something to read.

``smsdesk demo`` starts on an empty store; a desk that has only today's few conversations
has no created-per-day, no response times, no ratings, no failed deliveries to report. So
before today's live conversations (server/demo.py) this writes seven days of believable
history, and a couple of this morning's tickets that are overdue or about to be.

Everything goes through the store's own writes, with the clock set back (every write reads
its time from ``WriteContext.now``): customers' texts come in through ``record_inbound``,
agents' replies through the reply preflight (``queue_checked``) and then along the
outbox's path (``mark_sending``, ``attach_sid``) and Twilio's status callbacks
(``record_status``, with real error codes for the few that fail), resolves through
``update_ticket`` (which sends the US number's survey), ratings as the customers' texts
that answer it. So every clock, survey and counter those writes keep is as if the week had
happened. It is one job, one transaction: one commit for the lot, a fraction of a second.

The week is drawn from a seeded random generator relative to the demo's ``now``: the same
``now`` always gives the same history. Its customers have numbers of their own (the
fictional 555-01xx and Ofcom's 07700 900xxx ranges), never one of today's, so nothing in
the history threads into today's story.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from itertools import cycle
from zoneinfo import ZoneInfo

from core import auth, queries, sla_writes, writes
from core.models import MessageStatus, Priority, Role, TicketStatus, now_ms
from core.reply_preflight import queue_checked
from core.sla import Target, target_from_text
from core.store import Store
from core.writes import InboundText, WriteContext

DAYS = 7
SEED = 14  # the issue that asked for it; any constant gives a fixed week
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
STILL_PENDING = 2  # the newest tickets waiting on their customer stay so; older ones resolved
# A step this close to the demo's start would land among today's live texts: it is left
# out (and the rest of its conversation with it), the ticket stays as it stood.
NOT_AFTER = 5 * MINUTE

# The targets an admin would type on the Hours · SLA tab: first response, resolution.
SLA_TARGETS = {Priority.URGENT: ("30m", "4h"), Priority.HIGH: ("1h", "8h"),
               Priority.MEDIUM: ("4h", "1d"), Priority.LOW: ("1d", "3d")}
SURVEY_FOLLOWUP = "Thanks! Anything we could have done better? Just reply, or ignore this."
# What a segment costs on each number, as the admin types it from Twilio's price list.
US_SEGMENT_PRICE = ("0.0083", "USD")  # a US toll-free number
UK_SEGMENT_PRICE = ("0.0400", "GBP")  # a UK long code
COLLEAGUE = "Alex Morgan"  # a second agent, so the week is not all Sam's

# Where each demo number's customers live: their texts come in their daytime.
US_ZONE = ZoneInfo("America/New_York")
UK_ZONE = ZoneInfo("Europe/London")
# Texts by hour of the customer's day: a morning and an afternoon peak.
HOUR_WEIGHTS = {8: 1, 9: 3, 10: 6, 11: 7, 12: 3, 13: 3, 14: 6, 15: 5, 16: 4, 17: 2, 18: 1,
                19: 1, 20: 1}
TICKETS_ON = {0: 8, 1: 7, 2: 7, 3: 8, 4: 7, 5: 4, 6: 2}  # by weekday (Monday 0)
# How long the first answer takes, in minutes: mostly quick, sometimes hours.
FIRST_REPLY_MINUTES = ((2, 10, 30), (10, 30, 30), (30, 90, 25), (90, 240, 15))
# Some days go worse than others: the first US ticket of these priorities two or more days
# ago waits this long (minutes), past its target, so SLA compliance is not a flat 100 %.
SLOW_FIRST_REPLY = {Priority.HIGH: (100, 150), Priority.MEDIUM: (260, 320)}
RATINGS = {5: ("5", "5!", "five", "⭐⭐⭐⭐⭐", "5 - super quick, thanks"),
           4: ("4", "4/5", "⭐⭐⭐⭐", "four"), 3: ("3", "3 stars")}
RATING_ORDER = (5, 4, 5, 3, 4, 5, 5, 4, 3, 5)  # mostly happy, a few lukewarm
LOW_RATING = ("2", "Took most of the day to get an answer, and I had to text twice.")
KIND_WORDS = ("Nope, all good!", "Really helpful, thanks", "All sorted, cheers")

US_NAMES = ("Olivia Brooks", "Ethan Carter", "Sofia Martinez", "Noah Kim", "Ava Johnson",
            "Liam Nguyen", "Mia Thompson", "Lucas Garcia", "Chloe Davis", "Mason Lee",
            "Zoe Robinson", "Elijah Walker")
UK_NAMES = ("Amelia Clarke", "Oliver Wright", "Isla Campbell", "Harry Evans",
            "Freya Shaw", "George Patel", "Poppy Hughes", "Jack Wilson")
US_AREAS = ("303", "206", "773", "404", "702", "919", "503", "614")  # none of today's
# Every customer of the week has a number like these (and no customer of today does).
PAST_CUSTOMER = re.compile(rf"\+1(?:{'|'.join(US_AREAS)})55501\d\d|\+447700900\d{{3}}")


@dataclass(frozen=True, slots=True)
class Topic:
    """One kind of conversation: what the customer asks and how it goes.

    ``answer``: the customer's text back after the first reply (None: they never write
    again; the ticket waits on them when ``pending``). ``closing``: the agent's last word.
    ``{order}`` in any text is the customer's order number.
    """

    opening: str
    reply: str
    answer: str | None = None
    closing: str | None = None
    tags: tuple[str, ...] = ()
    priority: Priority = Priority.LOW
    pending: bool = False  # the reply asks something; the ticket waits on the customer
    spam: bool = False  # closed as spam, never answered


US_TOPICS = (
    Topic("Hi, I was charged twice for order {order}. Can you check?",
          "Sorry about that! One of the two is a card pre-authorisation: it drops off within"
          " 3-5 days. I've flagged it in case it doesn't.", "Ok great, thanks for checking",
          "You're welcome! Text us if it's still there on Friday.", ("billing",),
          Priority.HIGH),
    Topic("Can I use two promo codes on one order?",
          "Only one code per order, I'm afraid, but WINTER15 gives the bigger discount on"
          " your basket.", "Got it, thanks!", None, ("promo",)),
    Topic("How do I return the sneakers from order {order}? They're too small",
          "No problem! Reply with the size you need and I'll send a free exchange label.",
          "Size 9 please", "Done: the exchange label for a size 9 is on its way by email.",
          ("returns",), Priority.MEDIUM),
    Topic("Where's my refund? I returned the jacket 2 weeks ago",
          "Your return reached us on Monday; the refund went out today and takes 3-5"
          " business days to show.", "Thank you", None, ("refund",), Priority.MEDIUM),
    Topic("Do you price match?",
          "We do, for the identical item in stock at a major retailer. Could you send me a"
          " link to it?", tags=("price-match",), pending=True),
    Topic("The code SAVE20 says expired but your email said it runs till today",
          "You're right, it ended a day early by mistake. I've taken 20% off order {order}.",
          "Amazing thanks", None, ("promo", "billing"), Priority.MEDIUM),
    Topic("Can I change the card on my subscription?",
          "Yes: log in, then Account > Payment methods > Make default.", "Found it, all good",
          "Great, have a nice day!", ("subscription",)),
    Topic("My order {order} says delivered but there's nothing here",
          "Sorry! The driver's photo shows a blue door: is that yours? If not, I'll send a"
          " replacement today.", "Not my door", "A replacement is on its way; tracking"
          " follows by text.", ("delivery",), Priority.HIGH),
    Topic("Is the grey hoodie true to size?",
          "It runs slightly large; most people go one size down.", tags=("sizing",)),
    Topic("My card was declined 3 times but the bank says it's fine",
          "That happens when the billing ZIP doesn't match. Could you try again with the ZIP"
          " on your card statement?", "That worked!", "Glad to hear it!",
          ("billing", "payment"), Priority.HIGH),
    Topic("Can I get an invoice for order {order} for my company?",
          "Sure: what company name and address should be on it?", tags=("invoice",),
          pending=True),
    Topic("Do you have the walnut desk lamp in stock?",
          "It's back on the 12th; want me to text you when it is?", "Yes please",
          "Done, you're on the list.", ("stock",)),
)

UK_TOPICS = (
    Topic("Hi, when will order {order} ship? I ordered on Monday",
          "It left our warehouse this morning with Royal Mail; the tracking is in your"
          " email.", "Cheers", None, ("shipping",)),
    Topic("Parcel says delivered to a neighbour but which one??",
          "The courier's note says number 14. If it isn't there, let us know and we'll"
          " chase it.", "Got it, thanks!", None, ("delivery",), Priority.MEDIUM),
    Topic("Can I change the delivery address on order {order}? Moving house",
          "Yes, it hasn't shipped yet. What's the new address?",
          "22 Mill Lane, Leeds LS6 2AB", "Updated! It ships tomorrow to the new address.",
          ("address-change",), Priority.MEDIUM),
    Topic("Do you deliver to Northern Ireland?",
          "We do: 2-3 working days, same price as the rest of the UK.", tags=("shipping",)),
    Topic("My parcel arrived damaged, the box was soaked",
          "So sorry! What's broken? We'll replace it either way.",
          "The mug handle snapped off", "A new one ships today, no need to send the broken"
          " one back.", ("damaged",), Priority.HIGH),
    Topic("Is next-day delivery available to Glasgow?",
          "Yes: order before 2pm on a weekday and it arrives the next day.",
          tags=("shipping",)),
    Topic("Could you tell me if order {order} can be gift wrapped?",
          "It can, for £2.50. Shall I add it and send you a payment link by email?",
          tags=("gift",), pending=True),
    Topic("Congratulations! You have WON a £500 voucher, claim now at prize-uk.example",
          "", tags=("spam",), spam=True),
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A reply that never reached the customer, and what the agent did about it."""

    code: int
    us: bool  # on the US number (else the UK one)
    from_days_ago: int  # on the first ticket it can be, from this day on
    note: str  # the agent's note on what happened
    sent: str = ""  # the text that failed ("": the topic's reply)
    retry: str = ""  # sent later instead ("": the same again)
    closes: bool = False  # no retry: the ticket is closed


FAILURES = (
    Failure(30003, True, 6, "Twilio 30003: their phone was off or out of signal."
                            " Trying again in a bit."),
    Failure(30007, True, 4, "Twilio 30007: the carrier filtered it, the short link probably."
                            " Sending it again without the link.",
            sent="Here's the tracking link for it: bit.ly/3xQz9Lp",
            retry="Sorry, that one didn't go through: you can track it on demo.shop/track"
                  " with your order number."),
    Failure(30005, False, 5, "Twilio 30005: this number is no longer in service. Nothing"
                             " more we can do by text, closing.", closes=True),
)


# --- the plan: pure, from the seed and the demo's now -------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One thing that happened on a ticket, at ``at`` (epoch ms)."""

    at: int
    kind: str  # text | triage | reply | fail | note | status
    body: str = ""
    agent: str = ""  # "sam", "alex" or "admin"
    status: str = ""
    priority: Priority | None = None
    tags: tuple[str, ...] = ()
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """One past ticket: its customer, the number they texted, and its steps in order."""

    phone: str
    name: str | None
    number: str  # the demo number's E.164
    steps: tuple[Step, ...]


@dataclass
class _Customers:
    """Fresh customer numbers, never one of today's story, and names (each once: two
    customers of the same name would read as one person with two phones)."""

    rng: random.Random
    used: set[str] = field(default_factory=set)
    names: dict[str, list[str]] = field(default_factory=dict)

    def us(self) -> tuple[str, str | None]:
        return self._new(lambda: f"+1{self.rng.choice(US_AREAS)}55501"
                                 f"{self.rng.randint(0, 99):02d}", US_NAMES)

    def uk(self) -> tuple[str, str | None]:
        return self._new(lambda: f"+447700900{self.rng.randint(100, 999)}", UK_NAMES)

    def _new(self, draw: Callable[[], str], names: tuple[str, ...]) -> tuple[str, str | None]:
        phone = draw()
        while phone in self.used:
            phone = draw()
        self.used.add(phone)
        left = self.names.setdefault(names[0], self.rng.sample(names, len(names)))
        return phone, left.pop() if left and self.rng.random() < 0.6 else None


@dataclass
class _Deck:
    """Topics dealt without repeats until every one has come up, then shuffled again: a
    week reads varied, not the same question four times."""

    rng: random.Random
    topics: tuple[Topic, ...]
    left: list[Topic] = field(default_factory=list)

    def draw(self) -> Topic:
        if not self.left:
            self.left = self.rng.sample(self.topics, len(self.topics))
        return self.left.pop()


def plan_week(now: int, us: str, uk: str, *, seed: int = SEED) -> list[Conversation]:
    """The week before ``now`` (and this morning's two tickets), oldest ticket first."""
    rng = random.Random(seed)
    customers = _Customers(rng)
    conversations: list[Conversation] = []
    failures = list(FAILURES)
    slow = dict(SLOW_FIRST_REPLY)
    us_topics, uk_topics = _Deck(rng, US_TOPICS), _Deck(rng, UK_TOPICS)
    rated: list[int] = []  # US tickets resolved with no failure: their customers may rate
    waiting: list[int] = []  # tickets left waiting on the customer
    for days_ago in range(DAYS, 0, -1):
        for _ in range(TICKETS_ON[_weekday(now, days_ago)]):
            on_us = rng.random() < 0.6
            zone, number = (US_ZONE, us) if on_us else (UK_ZONE, uk)
            opened = _daytime(rng, now, days_ago, zone)
            phone, name = customers.us() if on_us else customers.uk()
            topic = (us_topics if on_us else uk_topics).draw()
            failure = _failure_for(failures, topic, on_us=on_us, days_ago=days_ago)
            late = slow.pop(topic.priority, None) if on_us and failure is None \
                and days_ago >= 2 and not topic.pending else None
            steps = tuple(_conversation(rng, topic, opened, zone, failure, late))
            if on_us and failure is None and steps[-1].status == "resolved":
                rated.append(len(conversations))
            if steps[-1].status == "pending":
                waiting.append(len(conversations))
            conversations.append(Conversation(phone, name, number, steps))
    for index in waiting[:-STILL_PENDING]:  # no answer in two days: the agent calls it done
        conversation = conversations[index]
        zone = US_ZONE if conversation.number == us else UK_ZONE
        done = _working(conversation.steps[-1].at + 2 * DAY + _minutes(rng, 0, 120), zone, rng)
        conversations[index] = replace(conversation, steps=(*conversation.steps, Step(
            done, "status", agent=conversation.steps[-1].agent, status="resolved")))
    _add_ratings(rng, conversations, [i for i in rated
                                      if conversations[i].steps[-1].at < now - 2 * HOUR])
    conversations.sort(key=lambda c: c.steps[0].at)
    return conversations + list(_this_morning(now, us, customers))


def _failure_for(failures: list[Failure], topic: Topic, *, on_us: bool,
                 days_ago: int) -> Failure | None:
    """The next failure this conversation is to have, taken off ``failures``: each on the
    first ticket of its number, from its day on, whose reply can fail (one is sent)."""
    if topic.spam or topic.pending:
        return None
    for failure in failures:
        if failure.us is on_us and days_ago <= failure.from_days_ago:
            failures.remove(failure)
            return failure
    return None


def _add_ratings(rng: random.Random, conversations: list[Conversation],
                 rated: list[int]) -> None:
    """The survey answers: the one low rating on the slowest-answered of these tickets
    (resolved long enough ago for it to come before today's story), then ratings in
    RATING_ORDER from two in three of the others (the third never answers)."""
    if not rated:
        return
    slowest = max(rated, key=lambda i: conversations[i].steps[1].at
                  - conversations[i].steps[0].at)
    others = [index for index in rated if index != slowest]
    answering = [index for n, index in enumerate(others) if n % 3 != 2]
    for index, rating in [(slowest, 2), *zip(answering, cycle(RATING_ORDER), strict=False)]:
        conversation = conversations[index]
        steps = _rating(rng, conversation.steps[-1].at, rating)
        conversations[index] = replace(conversation, steps=conversation.steps + tuple(steps))


def _weekday(now: int, days_ago: int) -> int:
    return (datetime.fromtimestamp(now / 1000, UK_ZONE).date() - timedelta(days_ago)).weekday()


def _daytime(rng: random.Random, now: int, days_ago: int, zone: ZoneInfo) -> int:
    """A moment of the customer's day ``days_ago`` days before today, in the busy hours."""
    day: date = datetime.fromtimestamp(now / 1000, zone).date() - timedelta(days_ago)
    hour = rng.choices(list(HOUR_WEIGHTS), weights=list(HOUR_WEIGHTS.values()))[0]
    moment = datetime.combine(day, time(hour, rng.randint(0, 59), rng.randint(0, 59)), zone)
    return int(moment.timestamp() * 1000)


def _working(at: int, zone: ZoneInfo, rng: random.Random) -> int:
    """``at``, or the next morning when it falls after the shop closed (no one answers at
    night)."""
    local = datetime.fromtimestamp(at / 1000, zone)
    if 8 <= local.hour < 19:
        return at
    day = local.date() + timedelta(1) if local.hour >= 19 else local.date()
    morning = datetime.combine(day, time(9, rng.randint(0, 40)), zone)
    return int(morning.timestamp() * 1000)


def _minutes(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low * 60, high * 60) * 1000


def _conversation(rng: random.Random, topic: Topic, opened: int, zone: ZoneInfo,
                  failure: Failure | None, late: tuple[int, int] | None) -> Iterator[Step]:
    """``late``: the first reply comes this many minutes (at least, at most) after the text."""
    order = f"#{rng.randint(4300, 4399) if zone is US_ZONE else rng.randint(4100, 4199)}"
    agent = rng.choices(("sam", "alex", "admin"), weights=(6, 3, 1))[0]
    yield Step(opened, "text", topic.opening.format(order=order))
    if topic.spam:
        yield Step(opened + _minutes(rng, 5, 60), "status", agent=agent, status="closed",
                   tags=topic.tags)
        return
    band = late or rng.choices(FIRST_REPLY_MINUTES,
                               weights=[b[2] for b in FIRST_REPLY_MINUTES])[0][:2]
    replied = _working(opened + _minutes(rng, band[0], band[1]), zone, rng)
    yield Step(replied - MINUTE, "triage", agent=agent, priority=topic.priority,
               tags=topic.tags)
    if failure is not None:
        reply = topic.reply.format(order=order)
        yield Step(replied, "fail", failure.sent or reply, agent=agent, code=failure.code)
        yield Step(replied + _minutes(rng, 2, 10), "note", failure.note, agent=agent)
        if failure.closes:
            yield Step(replied + _minutes(rng, 11, 20), "status", agent=agent, status="closed")
            return
        replied = _working(replied + _minutes(rng, 40, 120), zone, rng)
        yield Step(replied, "reply", failure.retry or reply, agent=agent)
        yield Step(replied + _minutes(rng, 30, 90), "status", agent=agent, status="resolved")
        return
    yield Step(replied, "reply", topic.reply.format(order=order), agent=agent)
    if topic.pending:
        yield Step(replied + MINUTE, "status", agent=agent, status="pending")
        return
    last = replied
    if topic.answer is not None:
        last += _minutes(rng, 2, 40)
        yield Step(last, "text", topic.answer)
    if topic.closing is not None:
        last = _working(last + _minutes(rng, 3, 25), zone, rng)
        yield Step(last, "reply", topic.closing.format(order=order), agent=agent)
    yield Step(_working(last + _minutes(rng, 1, 30), zone, rng), "status", agent=agent,
               status="resolved")


def _rating(rng: random.Random, resolved: int, rating: int) -> list[Step]:
    """A customer's answers to the survey a resolve on the US number sends: the rating in one
    of its written forms, sometimes a word for the follow-up (always, for the low one)."""
    answered = resolved + _minutes(rng, 2, 60)
    if rating == 2:
        return [Step(answered, "text", LOW_RATING[0]),
                Step(answered + _minutes(rng, 1, 5), "text", LOW_RATING[1])]
    steps = [Step(answered, "text", rng.choice(RATINGS[rating]))]
    if rating == 5 and "-" not in steps[0].body and rng.random() < 0.3:
        steps.append(Step(answered + _minutes(rng, 1, 5), "text", rng.choice(KIND_WORDS)))
    return steps


# This morning's two: (minutes ago, text, who took it, priority, tags).
WAITING = ((95, "URGENT: I was charged $349 three times for one order (#4388). Please fix asap",
            "sam", Priority.URGENT, ("billing",)),
           (42, "Hi, can order #4391 still go to a different address? It says it ships today",
            "admin", Priority.HIGH, ("address-change",)))


def _this_morning(now: int, us: str, customers: _Customers) -> Iterator[Conversation]:
    """Two tickets from earlier today still waiting for a first answer: one past its urgent
    30-minute target, one within minutes of its high one (the admin's own: a toast)."""
    for minutes_ago, body, agent, priority, tags in WAITING:
        phone, name = customers.us()
        opened = now - minutes_ago * MINUTE
        yield Conversation(phone, name, us, (
            Step(opened, "text", body),
            Step(opened + 3 * MINUTE, "triage", agent=agent, priority=priority, tags=tags)))


# --- writing it: one job, the clock set back for each step ---------------------------------


@dataclass(frozen=True, slots=True)
class Agents:
    """The demo's agents' ids by the plan's names (Alex is the week's: ``write_week`` adds
    him)."""

    sam: int
    admin: int
    alex: int

    def id_of(self, name: str) -> int:
        return {"sam": self.sam, "admin": self.admin, "alex": self.alex}[name]


async def furnish_history(store: Store, *, sam: int, admin: int, us: str, uk: str,
                          now: int | None = None) -> dict[str, int]:
    """Write the week before ``now`` (default: this instant) on the demo's numbers ``us`` and
    ``uk``, in one transaction; what was written, counted."""
    now = now_ms() if now is None else now
    numbers = {number.e164: number.id for number in await store.read(queries.numbers)}
    groups = [group.id for group in await store.read(queries.groups)]
    prices = {numbers[us]: US_SEGMENT_PRICE, numbers[uk]: UK_SEGMENT_PRICE}
    return await store.write(write_week, plan_week(now, us, uk), now=now, sam=sam,
                             admin=admin, group_ids=groups, us_number_id=numbers[us],
                             prices=prices)


def write_week(ctx: WriteContext, plan: list[Conversation], *, now: int, sam: int, admin: int,
               group_ids: list[int], us_number_id: int,
               prices: dict[int, tuple[str, str]] | None = None,
               seed: int = SEED) -> dict[str, int]:
    """The desk's service levels (SLA targets, the US number's survey), its numbers' segment
    ``prices`` (by number id: price, currency), a colleague, then every step of ``plan`` at
    its own time, none later than a few minutes before ``now``. Returns counts of what was
    written."""
    prices = prices or {}
    written_at = ctx.now
    ctx.now = now
    rng = random.Random(seed)  # the Twilio SIDs: the same plan gives the same SIDs
    sla_writes.save_targets(ctx, {priority: Target(target_from_text(first),
                                                   target_from_text(resolution))
                                  for priority, (first, resolution) in SLA_TARGETS.items()})
    writes.update_number(ctx, us_number_id, csat=True, csat_followup=SURVEY_FOLLOWUP)
    for number_id, (price, currency) in prices.items():
        writes.update_number(ctx, number_id, segment_price=price, price_currency=currency)
    alex = writes.add_agent(ctx, name=COLLEAGUE, role=Role.AGENT,
                            token_hash=auth.hash_token(auth.new_token()), group_ids=group_ids)
    agents = Agents(sam=sam, admin=admin, alex=alex.id)
    counts = {"tickets": 0, "steps": 0, "left_out": 0}
    for conversation in plan:
        written = _write_conversation(ctx, conversation, agents, rng, until=now - NOT_AFTER)
        counts["tickets"] += 1
        counts["steps"] += written
        counts["left_out"] += len(conversation.steps) - written
    ctx.now = written_at
    return counts


def _write_conversation(ctx: WriteContext, conversation: Conversation, agents: Agents,
                        rng: random.Random, *, until: int) -> int:
    """Its steps up to ``until`` (a later one and the rest are left out); how many."""
    ticket_id = 0
    written = 0
    for step in conversation.steps:
        if step.at > until:
            break
        ctx.now = step.at
        if step.kind == "text":
            result = writes.record_inbound(ctx, InboundText(
                sid=_sid(rng), to=conversation.number, from_=conversation.phone,
                body=step.body))
            if not ticket_id and conversation.name:
                writes.update_contact(ctx, result.ticket.contact_id, name=conversation.name)
            ticket_id = result.ticket.id
        elif step.kind == "triage":
            writes.update_ticket(ctx, ticket_id, by=agents.id_of(step.agent),
                                 agent_id=agents.id_of(step.agent), priority=step.priority,
                                 tags=list(step.tags))
        elif step.kind in ("reply", "fail"):
            queue_checked(ctx, agents.id_of(step.agent), ticket_id, step.body, ())
        elif step.kind == "note":
            writes.add_note(ctx, ticket_id=ticket_id, agent_id=agents.id_of(step.agent),
                            body=step.body)
        elif step.kind == "status":
            changes: dict[str, object] = {"status": step.status}
            if step.tags:
                changes.update(tags=list(step.tags), agent_id=agents.id_of(step.agent))
            writes.update_ticket(ctx, ticket_id, by=agents.id_of(step.agent), **changes)
        _send_queued(ctx, ticket_id, rng, failed_with=step.code)
        written += 1
    if not written:
        return 0
    customer_waits = conversation.steps[written - 1].kind == "text" \
        and _status_of(ctx, ticket_id) is TicketStatus.OPEN
    if not customer_waits:
        ctx.now = conversation.steps[written - 1].at + MINUTE  # an agent read the last of it
        writes.update_ticket(ctx, ticket_id, unread=False)
    return written


def _send_queued(ctx: WriteContext, ticket_id: int, rng: random.Random, *,
                 failed_with: int | None) -> None:
    """What the outbox and Twilio did with the texts just queued on the ticket (a reply,
    a survey, its follow-up): claimed, handed to Twilio (sent), then the status callback
    saying how it went, a few seconds later: undelivered with ``failed_with`` when set."""
    queued = ctx.conn.execute(
        "SELECT id FROM entries WHERE ticket_id = ? AND kind = 'message'"
        " AND direction = 'outbound' AND status = 'queued' ORDER BY id", (ticket_id,)).fetchall()
    start = ctx.now
    for (message_id,) in queued:
        sid = _sid(rng)
        ctx.now = start + 1000
        writes.mark_sending(ctx, message_id)
        ctx.now = start + 2000
        writes.attach_sid(ctx, message_id, sid=sid, status=MessageStatus.SENT)
        ctx.now = start + rng.randint(3000, 9000)  # the callback with how it went
        if failed_with is None:
            writes.record_status(ctx, sid, MessageStatus.DELIVERED)
        else:
            writes.record_status(ctx, sid, MessageStatus.UNDELIVERED, failed_with)
    ctx.now = start


def _status_of(ctx: WriteContext, ticket_id: int) -> TicketStatus:
    return writes.ticket_by_id(ctx.conn, ticket_id).status


def _sid(rng: random.Random) -> str:
    return f"SM{rng.getrandbits(128):032x}"
