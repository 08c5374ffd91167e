"""The bot's decisions for one customer text: greeting, menus, questions, keywords, hours."""

from __future__ import annotations

import datetime
import timeit
from zoneinfo import ZoneInfo

import pytest

from core.bot_engine import Inbound, Session, Turn, answer, folded, looks_automated
from core.bot_flow import Say, parse_flow
from core.business_hours import Calendar, HoursNow, Span, hours_now, opening_in_words

FLOW = parse_flow("""\
greeting = "Hi, this is Acme Support."
start = "main"
out_of_hours = "We're closed now; we open {next_opening}."

[hand_off]
text = "Thanks! A person will answer shortly."
closed_text = "Thanks! A person will answer when we open, {next_opening}."

[menus.main]
prompt = "Reply 1 for billing, 2 for shipping, 3 for a person, 4 for returns, 5 for news."
invalid = "Sorry, I didn't get that."

[[menus.main.options]]
key = "1"
route = "Billing"
say = "Thanks, billing will text you soon."
hand_off = true

[[menus.main.options]]
key = "2"
say = "Let's find your parcel."
ask = "order"

[[menus.main.options]]
key = "3"
hand_off = true

[[menus.main.options]]
key = "4"
menu = "returns"

[[menus.main.options]]
key = "5"
say = "No news today."

[menus.returns]
prompt = "Reply A to return an item, B for a refund."

[[menus.returns.options]]
key = "a"
route = "Returns"

[[menus.returns.options]]
key = "b"
ask = "name"

[questions.order]
prompt = "What's your order number? It looks like AC-12345."
field = "order_number"
pattern = "AC-?[0-9]{5}"
retry = "That doesn't look like an order number (AC-12345). Try again?"
tries = 2
then_say = "Thanks! We'll look up {answer}."
then_hand_off = true
then_route = "Shipping"

[questions.name]
prompt = "Your name, please?"
field = "name"
tries = 0
then_say = "Thanks, {answer}."

[[keywords]]
words = ["hours", "horario", "heures", "Öffnungszeiten"]
say = "We're open Mon-Fri 9:00-17:30."

[[keywords]]
words = ["track my parcel", "где посылка"]
say = "Track it at acme.example/track."
""")

LONDON = ZoneInfo("Europe/London")
AT = int(datetime.datetime(2026, 12, 1, 19, 0, tzinfo=LONDON).timestamp() * 1000)
OPEN = HoursNow(open=True, next_opening=None, closed_since=None)
TOMORROW_9 = datetime.datetime(2026, 12, 2, 9, 0, tzinfo=LONDON)
CLOSED = HoursNow(open=False, next_opening=TOMORROW_9, closed_since=AT - 3_600_000)
CLOSED_NEXT_NIGHT = HoursNow(open=False, next_opening=TOMORROW_9 + datetime.timedelta(days=1),
                             closed_since=AT + 20 * 3_600_000)

PROMPT = FLOW.menus["main"].prompt
GREETING = Say("Hi, this is Acme Support.")
HANDED = Say("Thanks! A person will answer shortly.")
HOURS_SAY = Say("We're open Mon-Fri 9:00-17:30.")


def text(body: str, session: Session | None, hours: HoursNow = OPEN, *, media: int = 0,
         at_ms: int = AT) -> Turn:
    return answer(FLOW, session, Inbound(body, media_count=media), hours, at_ms)


def at(node: str | None, tries: int = 0) -> Session:
    return Session(node=node, tries=tries, greeted=True)


def texts(turn: Turn) -> list[str]:
    return [say.as_sent() for say in turn.says]


# --- a new conversation ----------------------------------------------------------------------


def test_a_new_conversation_gets_the_greeting_and_the_menu() -> None:
    turn = text("Hello, I need help", None)
    assert turn.says == (GREETING, PROMPT)
    assert turn.session == Session(node="menu:main", greeted=True)
    assert (turn.route, turn.field, turn.hand_off) == (None, None, False)


def test_the_first_text_is_not_read_as_a_choice() -> None:
    assert text("3", None).says == (GREETING, PROMPT)


def test_a_keyword_in_the_first_text_is_answered_before_the_menu() -> None:
    assert text("what are your hours?", None).says == (GREETING, HOURS_SAY, PROMPT)


def test_a_flow_without_greeting_or_menu_stays_quiet_but_remembers_it_greeted() -> None:
    quiet = parse_flow('[[keywords]]\nwords = ["hours"]\nsay = "9-5"\n')
    turn = answer(quiet, None, Inbound("hello"), OPEN, AT)
    assert turn.silent and turn.session == Session(greeted=True)
    assert answer(quiet, turn.session, Inbound("Hours?"), OPEN, AT).says == (Say("9-5"),)


def test_a_new_conversation_starts_afresh_whatever_session_it_is_given() -> None:
    old = Session(node=None, greeted=True, ended="handed_off")
    turn = answer(FLOW, old, Inbound("hi", new_conversation=True), OPEN, AT)
    assert turn.says == (GREETING, PROMPT)


# --- menus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1", " 1 ", "1.", "1)"])
def test_a_choice_says_routes_and_hands_off(typed: str) -> None:
    turn = text(typed, at("menu:main"))
    assert texts(turn) == ["Thanks, billing will text you soon.", HANDED.text]
    assert turn.route == "Billing" and turn.hand_off
    assert turn.session.ended == "handed_off" and turn.session.node is None


def test_a_choice_that_asks_sends_the_question() -> None:
    turn = text("2", at("menu:main"))
    assert texts(turn) == ["Let's find your parcel.",
                           "What's your order number? It looks like AC-12345."]
    assert turn.session.node == "question:order" and not turn.hand_off


def test_a_choice_that_opens_a_menu_sends_its_prompt() -> None:
    turn = text("4", at("menu:main"))
    assert texts(turn) == ["Reply A to return an item, B for a refund."]
    assert turn.session.node == "menu:returns"
    routed = text("A", turn.session)
    assert routed.route == "Returns" and routed.says == () and routed.session.node is None


def test_a_choice_that_only_says_leaves_the_menu() -> None:
    turn = text("5", at("menu:main", tries=1))
    assert texts(turn) == ["No news today."]
    assert turn.session.node is None and turn.session.tries == 0
    assert text("ok thanks", turn.session).silent


def test_a_person_choice_hands_off() -> None:
    turn = text("3", at("menu:main"))
    assert turn.says == (HANDED,) and turn.hand_off and turn.session.ended == "handed_off"


def test_a_wrong_choice_shows_the_menu_again_twice_then_hands_off() -> None:
    first = text("what?", at("menu:main"))
    assert texts(first) == ["Sorry, I didn't get that.", PROMPT.text]
    assert first.session.tries == 1 and not first.hand_off
    second = text("billing please", first.session)
    assert second.session.tries == 2 and texts(second) == texts(first)
    third = text("I said billing", second.session)
    assert third.says == (HANDED,) and third.hand_off and third.session.ended == "handed_off"


def test_a_picture_at_a_menu_is_explained_not_counted() -> None:
    turn = text("", at("menu:main", tries=2), media=1)
    assert texts(turn) == ["Sorry, I didn't get that.", PROMPT.text]
    assert turn.session.tries == 2 and not turn.hand_off


def test_a_text_without_words_at_a_menu_waits_for_a_person() -> None:
    assert text("👍", at("menu:main")).silent


# --- questions -------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["AC-12345", " ac12345 "])
def test_an_answer_that_fits_the_pattern_is_saved(typed: str) -> None:
    turn = text(typed, at("question:order", tries=1))
    assert turn.field == ("order_number", typed.strip())
    assert texts(turn) == [f"Thanks! We'll look up {typed.strip()}.", HANDED.text]
    assert turn.route == "Shipping" and turn.hand_off


def test_a_wrong_answer_is_asked_again_at_most_tries_times_then_handed_off() -> None:
    retry = "That doesn't look like an order number (AC-12345). Try again?"
    first = text("12345", at("question:order"))
    assert texts(first) == [retry] and first.session.tries == 1 and first.field is None
    second = text("AC-1234", first.session)
    assert texts(second) == [retry] and second.session.tries == 2
    third = text("no idea", second.session)
    assert third.says == (HANDED,) and third.hand_off and third.field is None


def test_a_question_without_pattern_takes_any_text_and_with_no_tries_hands_off_at_once() -> None:
    turn = text("  Ana María ", at("question:name"))
    assert turn.field == ("name", "Ana María") and texts(turn) == ["Thanks, Ana María."]
    assert turn.session.node is None and not turn.hand_off
    assert text("", at("question:name"), media=1).silent


def test_a_keyword_at_a_question_is_answered_and_the_question_stays() -> None:
    turn = text("what are your hours", at("question:order", tries=1))
    assert turn.says == (HOURS_SAY,) and turn.session == at("question:order", tries=1)


# --- keywords --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "answered"), [
    ("Hours?", True),
    ("¿Cuál es su horário?", True),
    ("HORARIO", True),
    ("Quelles sont vos heures d'ouverture ?", True),
    ("Wie sind Ihre Offnungszeiten?", True),
    ("ÖFFNUNGSZEITEN bitte", True),
    ("hourses", False),
    ("ahours", False),
    ("Can you track my parcel please", True),
    ("track the parcel", False),
    ("Где   посылка?", True),
])
def test_keywords_match_whole_words_in_any_case_and_without_diacritics(body: str,
                                                                       answered: bool) -> None:
    turn = text(body, at(None))
    assert bool(turn.says) is answered
    assert turn.session == at(None)


def test_a_keyword_at_a_menu_keeps_the_menu_and_its_count() -> None:
    turn = text("opening hours?", at("menu:main", tries=1))
    assert turn.says == (HOURS_SAY,) and turn.session == at("menu:main", tries=1)


def test_nothing_to_match_with_no_pending_node_waits_for_a_person() -> None:
    assert text("my parcel never came", at(None)).silent


def test_folded_drops_case_and_diacritics() -> None:
    assert folded("Horário ÉTÉ Straße") == "horario ete strasse"


# --- business hours --------------------------------------------------------------------------


def test_out_of_hours_once_per_closed_period_and_again_in_the_next() -> None:
    notice = f"We're closed now; we open {opening_in_words(TOMORROW_9, AT)}."
    first = text("hello", None, CLOSED)
    assert texts(first) == [GREETING.text, notice, PROMPT.text]
    assert first.session.closed_notice == CLOSED.closed_since
    later = text("what?", first.session, CLOSED, at_ms=AT + 60_000)
    assert notice not in texts(later)
    next_night_at = AT + 24 * 3_600_000
    next_night = text("hello again", later.session, CLOSED_NEXT_NIGHT, at_ms=next_night_at)
    words = opening_in_words(CLOSED_NEXT_NIGHT.next_opening, next_night_at)
    assert texts(next_night)[0] == f"We're closed now; we open {words}."
    assert next_night.session.closed_notice == CLOSED_NEXT_NIGHT.closed_since


def test_out_of_hours_follows_a_real_calendar_night_by_night() -> None:
    """Mon-Fri 9:00-17:30 in London: Tuesday evening, later that night, Wednesday evening."""
    weekday = (Span(9 * 60, 17 * 60 + 30),)
    calendar = Calendar("Europe/London", (weekday,) * 5 + ((), ()))

    def at_local(day: int, hour: int) -> int:
        moment = datetime.datetime(2026, 12, day, hour, 0, tzinfo=LONDON)
        return int(moment.timestamp() * 1000)

    closed_notice = "We're closed now; we open tomorrow at 9:00."
    tuesday = at_local(1, 19)
    first = text("hi", None, hours_now(calendar, tuesday), at_ms=tuesday)
    assert closed_notice in texts(first)
    late = at_local(1, 23)
    again = text("hours?", first.session, hours_now(calendar, late), at_ms=late)
    assert texts(again) == [HOURS_SAY.text]
    morning = at_local(2, 10)
    assert text("hours?", again.session, hours_now(calendar, morning),
                at_ms=morning).says == (HOURS_SAY,)
    wednesday = at_local(2, 19)
    next_night = text("hours?", again.session, hours_now(calendar, wednesday), at_ms=wednesday)
    assert texts(next_night) == [closed_notice, HOURS_SAY.text]


def test_no_out_of_hours_text_while_open() -> None:
    assert text("hello", None, OPEN).session.closed_notice is None


def test_hand_off_while_closed_says_when_a_person_will_answer() -> None:
    turn = text("3", at("menu:main"), CLOSED)
    assert texts(turn)[-1] == ("Thanks! A person will answer when we open, "
                               f"{opening_in_words(TOMORROW_9, AT)}.")


def test_closed_with_no_opening_ahead_skips_the_placeholder_texts() -> None:
    never = HoursNow(open=False, next_opening=None, closed_since=AT - 1)
    turn = text("3", at("menu:main"), never)
    assert turn.says == (HANDED,) and turn.session.closed_notice is None


# --- when the bot keeps quiet ----------------------------------------------------------------


@pytest.mark.parametrize("body", ["STOP", "stop", "Start", "HELP", "unsubscribe", "info"])
@pytest.mark.parametrize("session", [None, at("menu:main", tries=1)])
def test_stop_start_and_help_are_never_answered(body: str, session: Session | None) -> None:
    turn = text(body, session, CLOSED)
    assert turn.silent and turn.says == ()
    assert turn.session == (session or Session())


@pytest.mark.parametrize("body", [
    "Auto-Reply: I am out of office until Monday.",
    "This is an automated message, please do not reply.",
    "I’m driving with Driving Focus turned on. I'll see your message when I get where I'm going.",
    "I'm away from my phone right now.",
])
def test_an_auto_responder_gets_silence_and_a_person_may_still_write(body: str) -> None:
    assert looks_automated(body)
    session = at("menu:main")
    turn = text(body, session, CLOSED)
    assert turn.silent and turn.session == session
    assert text("1", turn.session).hand_off


def test_a_customer_is_not_taken_for_an_auto_responder() -> None:
    assert not looks_automated("I will be driving to your shop tomorrow, are you open?")


@pytest.mark.parametrize("ended", ["handed_off", "taken_over", "opted_out"])
def test_an_ended_session_is_silent(ended: str) -> None:
    session = Session(node="menu:main", greeted=True, ended=ended)
    turn = text("1", session, CLOSED)
    assert turn.silent and turn.session == session


def test_the_given_session_is_not_changed() -> None:
    session = at("menu:main")
    text("what?", session)
    assert session == at("menu:main")


# --- the session as stored -------------------------------------------------------------------


def test_a_session_reads_back_from_its_json() -> None:
    session = Session(node="question:order", tries=1, greeted=True, closed_notice=123,
                      ended=None)
    assert Session.from_json(session.to_json()) == session
    assert Session.from_json('{"greeted": true, "mood": "calm"}') == Session(greeted=True)


# --- speed -----------------------------------------------------------------------------------


def test_an_answer_takes_well_under_50_microseconds() -> None:
    """The relay answers inside the inbound webhook's transaction; the flow is compiled once."""
    session = at("menu:main")
    cases = [Inbound("what are your opening hours, please?"), Inbound("2"), Inbound("hmm")]

    def run() -> None:
        for inbound in cases:
            answer(FLOW, session, inbound, CLOSED, AT)

    best = min(timeit.repeat(run, number=300, repeat=7)) / (300 * len(cases))
    assert best < 50e-6, f"{best * 1e6:.1f} µs per answer"
