"""The bot's decisions: one customer text in, what the bot says and does out.

Pure, so the relay runs it inside the transaction that stores the inbound text (a crash can
neither lose nor double a bot reply) and the admin's preview runs the very same code in the
inbox. Everything the bot remembers about a conversation is the small ``Session`` the relay
keeps per ticket as JSON.

The bot never answers STOP/START/HELP (Twilio's own handling stands) nor an auto-responder
(two bots must not talk to each other), and it stops for good once a person has the ticket.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
import weakref
from dataclasses import dataclass, field

from core.bot_flow import ANSWER, NEXT_OPENING, Flow, Menu, Option, Question, Say, menu_key
from core.business_hours import HoursNow, opening_in_words
from core.optout import keyword_in

__all__ = [
    "MENU_RETRIES",
    "Inbound",
    "Session",
    "Turn",
    "answer",
    "folded",
    "looks_automated",
]

MENU_RETRIES = 2
"""How many times a menu is shown again after a text that is none of its choices; the next
miss hands the ticket to a person (a question's own ``tries`` plays this part for it)."""

HANDED_OFF = "handed_off"
TAKEN_OVER = "taken_over"
OPTED_OUT = "opted_out"


@dataclass
class Session:
    """What the bot remembers of one ticket's conversation (bot_sessions.state, as JSON)."""

    node: str | None = None           # "menu:main" | "question:order" | None
    tries: int = 0                    # wrong answers at the pending node
    greeted: bool = False
    closed_notice: int | None = None  # the HoursNow.closed_since the out-of-hours text was for
    ended: str | None = None          # None: bot active; "handed_off" | "taken_over" | "opted_out"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Session:
        """A stored session; keys a newer or older desk wrote and this one does not know are
        left out rather than refused, so a session never blocks a customer's text."""
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class Inbound:
    """A customer's text as the bot sees it. ``new_conversation``: the text opened a new
    ticket, so the bot starts afresh whatever session it is given."""

    body: str
    media_count: int = 0
    new_conversation: bool = False


@dataclass(frozen=True)
class Turn:
    """The bot's decisions for one inbound text, to be applied in the same transaction."""

    says: tuple[Say, ...]             # bot texts to queue, in order, placeholders filled
    route: str | None                 # group name to move the ticket to
    field: tuple[str, str] | None     # (field key, value) to save
    hand_off: bool
    session: Session                  # the session after this turn

    @property
    def silent(self) -> bool:
        """Whether the bot does nothing at all this turn (the session may still change)."""
        return not self.says and self.route is None and self.field is None and not self.hand_off


# --- text as the bot compares it ------------------------------------------------------------

_WORD = re.compile(r"\w+")


def folded(text: str) -> str:
    """Text as keywords compare it: case-folded and without diacritics ("Horário" ->
    "horario"), so a customer's phone keyboard does not decide whether the bot understands."""
    text = text.casefold()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def _padded_words(folded_text: str) -> str:
    """' hours are '-style: the words of folded text between single spaces, so a keyword
    (or phrase) matches as whole words by a substring test."""
    return " " + " ".join(_WORD.findall(folded_text)) + " "


AUTOMATED_PHRASES = (
    "auto-reply", "autoreply", "auto reply", "automatic reply", "automated reply",
    "auto-response", "automatic response", "automated response", "autoresponder",
    "out of office", "out of the office", "do not reply", "this is an automated message",
    "away from my phone", "i'm driving", "i am driving", "driving focus",
    "notifications silenced", "do not disturb",
)


_AUTOMATED = re.compile("|".join(re.escape(phrase) for phrase in AUTOMATED_PHRASES))


def looks_automated(body: str) -> bool:
    """Whether a text looks like an auto-responder's (out of office, "I'm driving"...):
    answering one would start two machines talking, so the bot keeps quiet."""
    return _looks_automated(folded(body))


def _looks_automated(folded_body: str) -> bool:
    return _AUTOMATED.search(" ".join(folded_body.replace("\u2019", "'").split())) is not None


# --- what a flow is compiled to, once per Flow object ---------------------------------------


class _Index:
    """A flow's lookups made ready: menu keys, compiled patterns, keyword phrases."""

    def __init__(self, flow: Flow) -> None:
        self.options: dict[str, dict[str, Option]] = {
            menu.id: {menu_key(o.key): o for o in menu.options} for menu in flow.menus.values()}
        self.patterns: dict[str, re.Pattern[str] | None] = {
            q.id: re.compile(q.pattern, re.IGNORECASE) if q.pattern is not None else None
            for q in flow.questions.values()}
        self.keywords: tuple[tuple[tuple[str, ...], Say], ...] = tuple(
            (tuple(p for p in (_padded_words(folded(w)) for w in k.words) if p.strip()), k.say)
            for k in flow.keywords)

    def keyword_say(self, padded_body: str) -> Say | None:
        for phrases, say in self.keywords:
            if any(phrase in padded_body for phrase in phrases):
                return say
        return None


_INDEXES: dict[int, tuple[weakref.ref[Flow], _Index]] = {}


def _index_of(flow: Flow) -> _Index:
    """The flow's index, built on first use and kept while the Flow object lives (the relay
    keeps parsed flows by version, so patterns are compiled once, not per text)."""
    key = id(flow)
    entry = _INDEXES.get(key)
    if entry is not None and entry[0]() is flow:
        return entry[1]
    index = _Index(flow)

    def forget(ref: weakref.ref[Flow]) -> None:
        if _INDEXES.get(key, (None,))[0] is ref:
            del _INDEXES[key]

    _INDEXES[key] = (weakref.ref(flow, forget), index)
    return index


# --- one turn -------------------------------------------------------------------------------


@dataclass
class _Turning:
    """A turn being decided: the session as it goes, and what the bot will do."""

    flow: Flow
    index: _Index
    session: Session
    hours: HoursNow
    at_ms: int
    says: list[Say] = field(default_factory=list)
    route: str | None = None
    field_value: tuple[str, str] | None = None
    hand_off: bool = False

    def turn(self) -> Turn:
        return Turn(tuple(self.says), self.route, self.field_value, self.hand_off, self.session)

    def say(self, say: Say | None) -> None:
        if say is not None:
            self.says.append(say)

    def go_to(self, node: str | None) -> None:
        self.session.node, self.session.tries = node, 0

    def show_menu(self, menu: Menu) -> None:
        self.say(menu.prompt)
        self.go_to(f"menu:{menu.id}")

    def ask(self, question: Question) -> None:
        self.say(question.prompt)
        self.go_to(f"question:{question.id}")

    def with_next_opening(self, text: str) -> str | None:
        """``text`` with {next_opening} filled; None when it needs one and there is none."""
        if NEXT_OPENING not in text:
            return text
        if self.hours.next_opening is None:
            return None
        return text.replace(NEXT_OPENING, opening_in_words(self.hours.next_opening, self.at_ms))

    def out_of_hours_notice(self) -> Say | None:
        """The closed-now text, once per closed period per conversation."""
        if self.hours.open or not self.flow.out_of_hours:
            return None
        if self.session.closed_notice == self.hours.closed_since:
            return None
        text = self.with_next_opening(self.flow.out_of_hours)
        if text is None:
            return None
        self.session.closed_notice = self.hours.closed_since
        return Say(text)

    def hand_to_a_person(self) -> None:
        hand_off = self.flow.hand_off
        text = None
        if not self.hours.open and hand_off.closed_text:
            text = self.with_next_opening(hand_off.closed_text)
        self.say(Say(text if text is not None else hand_off.text))
        self.hand_off = True
        self.session.node, self.session.tries, self.session.ended = None, 0, HANDED_OFF

    def choose(self, option: Option) -> None:
        self.say(option.say)
        if option.route is not None:
            self.route = option.route
        if option.ask is not None and option.ask in self.flow.questions:
            self.ask(self.flow.questions[option.ask])
        elif option.menu is not None and option.menu in self.flow.menus:
            self.show_menu(self.flow.menus[option.menu])
        elif option.hand_off:
            self.hand_to_a_person()
        else:
            self.go_to(None)

    def answered(self, question: Question, value: str) -> None:
        self.field_value = (question.field, value)
        if question.then_say is not None:
            self.say(dataclasses.replace(question.then_say,
                                         text=question.then_say.text.replace(ANSWER, value)))
        if question.then_route is not None:
            self.route = question.then_route
        self.go_to(None)
        if question.then_hand_off:
            self.hand_to_a_person()

    def missed(self, allowed: int, again: list[Say]) -> None:
        """A wrong answer at the pending node: ask again, or after ``allowed`` re-asks hand
        the ticket to a person (they read what the customer wrote)."""
        if self.session.tries + 1 > allowed:
            self.hand_to_a_person()
            return
        self.session.tries += 1
        self.says.extend(again)


def answer(flow: Flow, session: Session | None, inbound: Inbound, hours: HoursNow,
           at_ms: int) -> Turn:
    """What the bot says and does about one customer text, and its session afterwards."""
    if session is None or inbound.new_conversation:
        session = Session()
    if session.ended is not None or keyword_in(inbound.body) is not None:
        return Turn((), None, None, False, session)
    folded_body = folded(inbound.body)
    if _looks_automated(folded_body):
        return Turn((), None, None, False, session)
    turning = _Turning(flow, _index_of(flow), dataclasses.replace(session), hours, at_ms)
    padded_body = _padded_words(folded_body)
    notice = turning.out_of_hours_notice()
    if not session.greeted:
        _greet(turning, notice, padded_body)
        return turning.turn()
    turning.say(notice)
    node = session.node or ""
    kind, _, name = node.partition(":")
    if kind == "menu" and name in flow.menus:
        _at_menu(turning, flow.menus[name], inbound, padded_body)
    elif kind == "question" and name in flow.questions:
        _at_question(turning, flow.questions[name], inbound, padded_body)
    else:
        turning.say(turning.index.keyword_say(padded_body))
    return turning.turn()


def _greet(turning: _Turning, notice: Say | None, padded_body: str) -> None:
    """A new conversation: greeting, the closed notice, a keyword's answer, the start menu.
    The first text is not read as a menu choice: the customer has not seen the menu yet."""
    flow = turning.flow
    turning.session.greeted = True
    turning.say(flow.greeting)
    turning.say(notice)
    turning.say(turning.index.keyword_say(padded_body))
    if flow.start is not None and flow.start in flow.menus:
        turning.show_menu(flow.menus[flow.start])


def _at_menu(turning: _Turning, menu: Menu, inbound: Inbound, padded_body: str) -> None:
    """A choice, else a keyword's answer, else the menu again (or a person, after misses)."""
    option = turning.index.options[menu.id].get(menu_key(inbound.body))
    if option is not None:
        turning.choose(option)
        return
    keyword_say = turning.index.keyword_say(padded_body)
    if keyword_say is not None:
        turning.say(keyword_say)
        return
    again = [Say(menu.invalid)] if menu.invalid else []
    if not padded_body.strip():
        if inbound.media_count:
            turning.says.extend([*again, menu.prompt])   # a photo is not a miss: just explain
        return
    turning.missed(MENU_RETRIES, [*again, menu.prompt])


def _at_question(turning: _Turning, question: Question, inbound: Inbound,
                 padded_body: str) -> None:
    """An answer that fits, else a keyword's answer, else the question again (or a person)."""
    value = inbound.body.strip()
    pattern = turning.index.patterns[question.id]
    if value and pattern is not None and pattern.fullmatch(value):
        turning.answered(question, value)
        return
    keyword_say = turning.index.keyword_say(padded_body)
    if keyword_say is not None:
        turning.say(keyword_say)
        return
    if not value:
        return
    if pattern is None:
        turning.answered(question, value)
        return
    turning.missed(question.tries, [Say(question.retry) if question.retry else question.prompt])
