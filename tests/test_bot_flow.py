"""The bot's flow file: parsing, refusals with their line and words, writing it back."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bot_flow import (
    Attachment,
    Flow,
    FlowInvalid,
    HandOff,
    KeywordAnswer,
    Menu,
    Option,
    Problem,
    Question,
    Say,
    flow_to_toml,
    line_of,
    menu_key,
    parse_flow,
    problems_for_number,
    texts_of,
    toml_string,
)

#: The example flow of the design (docs: issue 13's shared design), comments and all.
EXAMPLE = """\
# smsdesk bot flow                       (one file per number; the number is chosen on import)
greeting = "Hi, this is Acme Support."   # sent first, on a new conversation (optional)
start = "main"                            # the menu shown after the greeting (optional)
replies_per_hour = 6                      # loop guard: bot texts per ticket per hour
out_of_hours = "We're closed now; we open {next_opening}. Leave a message and we'll answer then."

[hand_off]
text = "Thanks! A person will answer shortly."
closed_text = "Thanks! A person will answer when we open, {next_opening}."

[menus.main]
prompt = "Reply 1 for billing, 2 for shipping, 3 for a person."
invalid = "Sorry, I didn't get that. Reply 1, 2 or 3."

[[menus.main.options]]
key = "1"                                  # what the customer texts
label = "Billing"
route = "Billing"                          # group NAME the ticket moves to (optional)
say = "Thanks, billing will text you soon."    # optional
hand_off = true                            # optional; default false

[[menus.main.options]]
key = "2"
label = "Shipping"
ask = "order"                              # a question id

[[menus.main.options]]
key = "3"
label = "A person"
hand_off = true

[questions.order]
prompt = "What's your order number? It looks like AC-12345."
field = "order_number"                     # ticket custom field KEY
pattern = "AC-?[0-9]{5}"                   # optional; Python re, fullmatch, case-insensitive
retry = "That doesn't look like an order number (AC-12345). Try again?"
tries = 2                                  # asked again at most this many times, then hand off
then_say = "Thanks! We'll look up {answer}."   # optional; {answer} = the saved value
then_hand_off = true                       # optional
then_route = "Shipping"                    # optional group name

[[keywords]]
words = ["hours", "opening", "horario", "heures"]   # whole words, any language
say = "We're open Mon-Fri 9:00-17:30."

# any "say"/"prompt"/"text" may instead be a table with attachments / a video link:
# say = { text = "Our price list", attachments = [{ sha256 = "…", content_type = "image/png" }] }
"""

SHA = "ab" * 32


def test_the_example_flow_parses() -> None:
    flow = parse_flow(EXAMPLE)
    assert flow.greeting == Say("Hi, this is Acme Support.")
    assert flow.start == "main"
    assert flow.replies_per_hour == 6
    assert flow.hand_off == HandOff("Thanks! A person will answer shortly.",
                                    "Thanks! A person will answer when we open, {next_opening}.")
    main = flow.menus["main"]
    assert [o.key for o in main.options] == ["1", "2", "3"]
    assert main.options[0] == Option(key="1", label="Billing", route="Billing", hand_off=True,
                                     say=Say("Thanks, billing will text you soon."))
    assert main.options[1].ask == "order"
    order = flow.questions["order"]
    assert (order.field, order.pattern, order.tries) == ("order_number", "AC-?[0-9]{5}", 2)
    assert order.then_route == "Shipping" and order.then_hand_off
    assert flow.keywords == (KeywordAnswer(("hours", "opening", "horario", "heures"),
                                           Say("We're open Mon-Fri 9:00-17:30.")),)
    assert parse_flow(flow_to_toml(flow)) == flow


def test_an_empty_file_is_a_flow_that_does_nothing() -> None:
    assert parse_flow("") == Flow()


def test_a_say_may_carry_attachments_and_a_video_link() -> None:
    flow = parse_flow(textwrap.dedent(f"""\
        greeting = {{ text = "Our prices", attachments = [{{ sha256 = "{SHA}", \
content_type = "image/png", filename = "prices.png", size = 12345 }}] }}

        [[keywords]]
        words = ["reset"]
        say = {{ text = "How to reset it", video_url = "https://example.com/reset.mp4" }}
        """))
    assert flow.greeting == Say("Our prices", (Attachment(SHA, "image/png", "prices.png", 12345),))
    assert flow.keywords[0].say.as_sent() == "How to reset it\nhttps://example.com/reset.mp4"


def _problems(source: str) -> list[Problem]:
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(textwrap.dedent(source))
    return caught.value.problems


def _menu_with(option_lines: str) -> str:
    return 'start = "main"\n\n[menus.main]\nprompt = "Reply 1"\n\n[[menus.main.options]]\n' \
        + textwrap.dedent(option_lines)


def _greeting_with(attachment: str) -> str:
    return f'greeting = {{ text = "See this", attachments = [{attachment}] }}\n'


REFUSALS = [
    pytest.param('colour = "red"\n', 1, "colour", "unknown key 'colour'", id="unknown-root-key"),
    pytest.param(_menu_with('key = "1"\nhand_off = true\nbuttons = ["Billing", "Shipping"]\n'), 9,
                 "menus.main.options[0].buttons", "SMS has no buttons: write the choices into "
                 "the text, e.g. 'Reply 1 for billing'", id="buttons"),
    pytest.param('[[carousel]]\ntitle = "x"\n', 1, "carousel", "SMS has no carousels",
                 id="carousel"),
    pytest.param('[menus.main]\nprompt = "Pick"\ndropdown = ["a", "b"]\n[[menus.main.options]]\n'
                 'key = "1"\nhand_off = true\n', 3, "menus.main.dropdown",
                 "SMS has no dropdown lists", id="dropdown"),
    pytest.param('[[keywords]]\nwords = ["news"]\nsay = "News"\narticles = []\n', 4,
                 "keywords[0].articles", "SMS has no structured articles", id="articles"),
    pytest.param('[[keywords]]\nwords = ["x"]\nsay = "y"\ncards = 1\n', 4, "keywords[0].cards",
                 "SMS has no structured articles", id="cards"),
    pytest.param(_greeting_with(f'{{ sha256 = "{SHA}", content_type = "audio/mpeg" }}'), 1,
                 "greeting.attachments[0].content_type", "a bot cannot send audio by SMS/MMS "
                 "(the channel's table: Bot to user, Audio: No)", id="audio"),
    pytest.param(_greeting_with(f'{{ sha256 = "{SHA}", content_type = "video/mp4" }}'), 1,
                 "greeting.attachments[0].content_type",
                 'send a video as a public link: video_url = "https://…"', id="video"),
    pytest.param(_greeting_with(f'{{ sha256 = "{SHA}", content_type = "image/gif" }}'), 1,
                 "greeting.attachments[0].content_type", "GIF: not for bots", id="gif"),
    pytest.param(_greeting_with(f'{{ sha256 = "{SHA}", content_type = "application/zip" }}'), 1,
                 "greeting.attachments[0].content_type", "'application/zip' is not a type "
                 "Twilio sends by MMS", id="unaccepted-type"),
    pytest.param(_greeting_with(", ".join([f'{{ sha256 = "{SHA}", content_type = "image/png" }}']
                                          * 11)), 1, "greeting.attachments",
                 "11 attachments; one message carries at most 10", id="eleven-attachments"),
    pytest.param(_greeting_with(f'{{ sha256 = "{SHA}", content_type = "image/png", size = '
                                f'{3 * 1024 * 1024} }}, {{ sha256 = "{SHA}", content_type = '
                                f'"application/pdf", size = {3 * 1024 * 1024} }}'), 1,
                 "greeting.attachments", "the attachments come to 6.0 MB; one message carries "
                 "at most 5 MB", id="over-5-MB"),
    pytest.param(_greeting_with('{ sha256 = "nope", content_type = "image/png" }'), 1,
                 "greeting.attachments[0].sha256", "64 lower-case hex digits", id="bad-sha"),
    pytest.param('greeting = { text = "Watch", video_url = "ftp://x" }\n', 1,
                 "greeting.video_url", "a video goes as a public link", id="video-url-not-http"),
    pytest.param(_menu_with('key = "1"\nmenu = "billing"\n'), 8, "menus.main.options[0].menu",
                 "there is no menu 'billing': add [menus.billing] or change menu",
                 id="menu-to-nothing"),
    pytest.param(_menu_with('key = "1"\nask = "order"\n'), 8, "menus.main.options[0].ask",
                 "there is no question 'order': add [questions.order] or change ask",
                 id="ask-to-nothing"),
    pytest.param('start = "main"\n', 1, "start", "there is no menu 'main'", id="start-to-nothing"),
    pytest.param(_menu_with('key = "1"\nhand_off = true\n\n[[menus.main.options]]\nkey = " 1. "\n'
                            'hand_off = true\n'), 11, "menus.main.options[1].key",
                 "two choices answer to '1.': options[0] has it already", id="same-key-twice"),
    pytest.param(_menu_with('key = "1"\nlabel = "Billing"\n'), 6, "menus.main.options[0]",
                 "this choice does nothing", id="option-doing-nothing"),
    pytest.param(_menu_with('label = "Billing"\nhand_off = true\n'), 6,
                 "menus.main.options[0].key", "each choice needs a key", id="option-without-key"),
    pytest.param('[menus.main]\nprompt = "Pick"\n', 1, "menus.main",
                 "a menu needs at least one choice", id="menu-without-options"),
    pytest.param('[menus.main]\ninvalid = "?"\n[[menus.main.options]]\nkey = "1"\n'
                 'hand_off = true\n', 1, "menus.main", 'needs prompt = "…"',
                 id="menu-without-prompt"),
    pytest.param('[menus."main menu"]\nprompt = "Pick"\n', 1, "menus.main menu",
                 "may use only letters, digits", id="menu-name"),
    pytest.param('[questions.order]\nprompt = "Order?"\nfield = "order_number"\n'
                 'pattern = "AC-[0-9"\n', 4, "questions.order.pattern",
                 "not a valid pattern: unterminated character set", id="invalid-regex"),
    pytest.param('[questions.order]\nprompt = "Order?"\n', 1, "questions.order",
                 'a question needs field = "<ticket field key>"', id="question-without-field"),
    pytest.param('[questions.order]\nprompt = "Order?"\nfield = "x"\ntries = 6\n', 4,
                 "questions.order.tries", "must be a whole number from 0 to 5, not 6",
                 id="tries-out-of-range"),
    pytest.param(f'out_of_hours = "{"x" * 1601}"\n', 1, "out_of_hours",
                 "is 1,601 characters; an SMS/MMS text holds at most 1,600: shorten it by 1",
                 id="text-over-1600"),
    pytest.param('greeting = "Hi {name}"\n', 1, "greeting",
                 "{name} is not a placeholder the bot fills: nothing is filled in here",
                 id="unknown-placeholder"),
    pytest.param('greeting = "Open {next_opening}"\n', 1, "greeting",
                 "{next_opening} is not a placeholder the bot fills", id="next-opening-not-here"),
    pytest.param('out_of_hours = "Closed; your answer {answer}"\n', 1, "out_of_hours",
                 "here only {next_opening} is filled in", id="answer-not-here"),
    pytest.param('replies_per_hour = 31\n', 1, "replies_per_hour",
                 "must be a whole number from 1 to 30, not 31", id="replies-per-hour"),
    pytest.param('replies_per_hour = "6"\n', 1, "replies_per_hour", "not the text '6'",
                 id="replies-per-hour-text"),
    pytest.param('[hand_off]\ntext = { text = "Bye" }\n', 2, "hand_off.text",
                 "must be a quoted string, not a table (attachments go only with greeting, "
                 "prompt and say)", id="hand-off-text-table"),
    pytest.param('[[keywords]]\nwords = []\nsay = "x"\n', 2, "keywords[0].words",
                 "words must be a list of words or phrases", id="keyword-without-words"),
    pytest.param('[[keywords]]\nwords = ["hours", "?!"]\nsay = "x"\n', 2, "keywords[0].words",
                 "(with letters or digits)", id="keyword-without-letters"),
    pytest.param('greeting = "Hi"\ngreeting = "again"\n', 2, "",
                 "not valid TOML: Cannot overwrite a value", id="toml-syntax"),
    pytest.param('greeting = "Hi\n', 1, "", "not valid TOML: Illegal character",
                 id="toml-unterminated-string"),
]


@pytest.mark.parametrize(("source", "line", "where", "words"), REFUSALS)
def test_refusals_name_their_line_and_say_why(source: str, line: int, where: str,
                                              words: str) -> None:
    problems = _problems(source)
    assert any(p.line == line and p.where == where and words in p.message for p in problems), \
        problems


def test_every_problem_is_reported_in_line_order() -> None:
    source = 'colour = "red"\nstart = "nowhere"\n[menus.main]\nprompt = "Pick"\nbuttons = 1\n'
    problems = _problems(source)
    assert [(p.line, p.where) for p in problems] == [
        (1, "colour"), (2, "start"), (3, "menus.main"), (5, "menus.main.buttons")]
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(source)
    assert str(caught.value).splitlines()[0] == (
        "line 1: colour: unknown key 'colour'; allowed here: greeting, start, replies_per_hour, "
        "out_of_hours, hand_off, menus, questions, keywords")
    assert isinstance(caught.value, ValueError)


def test_lines_count_array_entries_and_skip_multiline_values() -> None:
    source = textwrap.dedent('''\
        [[keywords]]
        words = [
          "hours",
          "say = not a key",
        ]
        say = """Open
        route = not a key either
        9-5"""

        [[keywords]]
        words = ["x"]
        say = "y"
        [keywords.say]
        ''')
    assert line_of(source, "keywords[0].say") == 6
    assert line_of(source, "keywords[1].words") == 11
    assert line_of(source, "keywords[1].say") == 12
    assert line_of(source, "keywords[1].nothing") == 10
    assert line_of(source, "keywords[0].route") == 1
    assert line_of(source, "menus.main") is None


def test_an_sms_only_number_sends_text_only_and_names_must_exist() -> None:
    flow = parse_flow(EXAMPLE.replace(
        'say = "We\'re open Mon-Fri 9:00-17:30."',
        f'say = {{ text = "Hours", attachments = [{{ sha256 = "{SHA}", '
        'content_type = "image/png" }] }'))
    assert problems_for_number(flow, mms=True, groups=["Billing", "Shipping"],
                               fields=["order_number"]) == []
    problems = problems_for_number(flow, mms=False, groups=["Billing"], fields=["order"],
                                   source=EXAMPLE)
    assert problems == [
        Problem(44, "keywords[0].say.attachments", "this number is SMS-only: the bot can send "
                "text only (attachments need an MMS-capable number)"),
        Problem(40, "questions.order.then_route", "there is no group named 'Shipping'"),
        Problem(34, "questions.order.field",
                "there is no ticket field with the key 'order_number'"),
    ]


def test_texts_of_lists_every_bot_text_as_sent() -> None:
    flow = parse_flow(EXAMPLE)
    texts = dict(texts_of(flow))
    assert list(texts) == [
        "greeting", "out_of_hours", "hand_off.text", "hand_off.closed_text", "menus.main.prompt",
        "menus.main.invalid", "menus.main.options[0].say", "questions.order.prompt",
        "questions.order.retry", "questions.order.then_say", "keywords[0].say"]
    assert texts["menus.main.prompt"] == "Reply 1 for billing, 2 for shipping, 3 for a person."
    with_video = parse_flow('greeting = { text = "Hi", video_url = "https://v.example/a.mp4" }')
    assert texts_of(with_video)[0] == ("greeting", "Hi\nhttps://v.example/a.mp4")


@pytest.mark.parametrize(("typed", "key"), [("1", "1"), (" 1. ", "1"), ("1)", "1"),
                                            ("Yes", "yes"), ("A.", "a")])
def test_menu_keys_compare_trimmed_and_casefolded(typed: str, key: str) -> None:
    assert menu_key(typed) == key


def test_toml_string_escapes_what_toml_forbids_raw() -> None:
    assert toml_string('a "b" \\ \n\t\x01 é 🙂') == '"a \\"b\\" \\\\ \\n\\t\\u0001 é 🙂"'
    with pytest.raises(ValueError, match="lone surrogate"):
        toml_string("\ud800")


# --- round trip over generated flows --------------------------------------------------------

_words = st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)),
                 min_size=1, max_size=20).filter(str.strip)


def _has_word_chars(text: str) -> bool:
    return any(c.isalnum() or c == "_" for c in text)


_ids = st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True)
_attachments = st.builds(
    Attachment,
    sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    content_type=st.sampled_from(["image/png", "image/jpeg", "application/pdf", "text/vcard"]),
    filename=st.text(max_size=10),
    size=st.integers(0, 400_000),
)


def _says(placeholder: str = "") -> st.SearchStrategy[Say]:
    text = _words.map(lambda t: t + placeholder) if placeholder else _words
    return st.one_of(
        st.builds(Say, text),
        st.builds(Say, text, st.lists(_attachments, min_size=1, max_size=3).map(tuple),
                  st.sampled_from(["", "https://example.com/v.mp4"])),
        st.builds(Say, st.just(""), st.lists(_attachments, min_size=1, max_size=2).map(tuple)),
    )


@st.composite
def _flows(draw: st.DrawFn) -> Flow:
    menu_ids = draw(st.lists(_ids, max_size=3, unique=True))
    question_ids = draw(st.lists(_ids, max_size=2, unique=True))
    questions = {
        qid: Question(
            id=qid, prompt=draw(_says()), field=draw(_ids),
            pattern=draw(st.sampled_from([None, "AC-?[0-9]{5}", r"\d+", "(?i)yes|no"])),
            retry=draw(st.one_of(st.just(""), _words)), tries=draw(st.integers(0, 5)),
            then_say=draw(st.none() | _says(" {answer}") | _says()),
            then_hand_off=draw(st.booleans()), then_route=draw(st.none() | _words))
        for qid in question_ids}

    def option(key: str) -> Option:
        goes = draw(st.sampled_from(["say", "hand_off"] + ["ask"] * bool(question_ids)
                                    + ["menu"] * bool(menu_ids)))
        return Option(
            key=key, label=draw(st.one_of(st.just(""), _words)),
            say=draw(_says()) if goes == "say" else draw(st.none() | _says()),
            route=draw(st.none() | _words),
            ask=draw(st.sampled_from(question_ids)) if goes == "ask" else None,
            menu=draw(st.sampled_from(menu_ids)) if goes == "menu" else None,
            hand_off=goes == "hand_off")

    menus = {}
    for mid in menu_ids:
        keys = draw(st.lists(st.from_regex(r"[a-z0-9]{1,3}", fullmatch=True), min_size=1,
                             max_size=3, unique_by=menu_key))
        menus[mid] = Menu(id=mid, prompt=draw(_says()),
                          invalid=draw(st.one_of(st.just(""), _words)),
                          options=tuple(option(k) for k in keys))
    return Flow(
        greeting=draw(st.none() | _says()),
        start=draw(st.sampled_from(menu_ids)) if menu_ids and draw(st.booleans()) else None,
        replies_per_hour=draw(st.integers(1, 30)),
        out_of_hours=draw(st.one_of(st.just(""), _words,
                                    _words.map(lambda t: t + "{next_opening}"))),
        hand_off=HandOff(draw(_words), draw(st.one_of(st.just(""), _words))),
        menus=menus, questions=questions,
        keywords=tuple(draw(st.lists(st.builds(KeywordAnswer,
                                               st.lists(_words.filter(_has_word_chars),
                                                        min_size=1, max_size=3).map(tuple),
                                               _says()), max_size=2))))


@settings(max_examples=150, deadline=None)
@given(_flows())
def test_a_flow_written_as_toml_reads_back_equal(flow: Flow) -> None:
    assert parse_flow(flow_to_toml(flow)) == flow
