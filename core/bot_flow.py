"""The flow a business number's bot runs, as a TOML file an admin can keep in version control.

Pure text work: parse (with line-numbered refusals an admin understands), write back
(``parse_flow(flow_to_toml(f)) == f``), and the checks that depend on the number (SMS-only
numbers send text only) and on the desk (group names, field keys). The engine that runs a
flow is core/bot_engine.py.

SMS has no buttons, carousels, lists or cards, and a bot may not send audio or video by MMS
(the channel's message-type table), so a flow that asks for them is refused on parse with
the reason, rather than accepted and then failing when a customer writes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.preflight import (
    ACCEPTED_MEDIA_TYPES,
    MAX_BODY_CHARS,
    MAX_MEDIA,
    MAX_MEDIA_TOTAL_BYTES,
)

__all__ = [
    "Attachment",
    "Flow",
    "FlowInvalid",
    "HandOff",
    "KeywordAnswer",
    "Menu",
    "Option",
    "Problem",
    "Question",
    "Say",
    "flow_to_toml",
    "line_of",
    "parse_flow",
    "problems_for_number",
    "texts_of",
    "toml_string",
]

DEFAULT_HAND_OFF_TEXT = "Thanks! A person will answer shortly."
DEFAULT_REPLIES_PER_HOUR = 6
REPLIES_PER_HOUR_RANGE = (1, 30)
DEFAULT_TRIES = 2
TRIES_RANGE = (0, 5)

NEXT_OPENING = "{next_opening}"
ANSWER = "{answer}"


# --- the flow -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """A file the bot sends by MMS, by the digest it is stored under (core/media_refs.py)."""

    sha256: str
    content_type: str
    filename: str = ""
    size: int = 0


@dataclass(frozen=True)
class Say:
    """One bot text: words, and on MMS numbers attachments; a video only as a public link."""

    text: str
    attachments: tuple[Attachment, ...] = ()
    video_url: str = ""

    def as_sent(self) -> str:
        """The body the customer receives: the text, then the video's link on its own line."""
        if not self.video_url:
            return self.text
        return f"{self.text}\n{self.video_url}" if self.text else self.video_url


@dataclass(frozen=True)
class Option:
    """One menu choice: what the customer texts, and what the bot then does."""

    key: str
    label: str = ""
    say: Say | None = None
    route: str | None = None
    ask: str | None = None
    menu: str | None = None
    hand_off: bool = False


@dataclass(frozen=True)
class Menu:
    id: str
    prompt: Say
    invalid: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Question:
    """A question whose answer is saved into a ticket field, checked by a pattern if any."""

    id: str
    prompt: Say
    field: str
    pattern: str | None = None
    retry: str = ""
    tries: int = DEFAULT_TRIES
    then_say: Say | None = None
    then_hand_off: bool = False
    then_route: str | None = None


@dataclass(frozen=True)
class KeywordAnswer:
    words: tuple[str, ...]
    say: Say


@dataclass(frozen=True)
class HandOff:
    text: str
    closed_text: str = ""


@dataclass(frozen=True)
class Flow:
    greeting: Say | None = None
    start: str | None = None
    replies_per_hour: int = DEFAULT_REPLIES_PER_HOUR
    out_of_hours: str = ""
    hand_off: HandOff = HandOff(text=DEFAULT_HAND_OFF_TEXT)
    menus: Mapping[str, Menu] = field(default_factory=dict)
    questions: Mapping[str, Question] = field(default_factory=dict)
    keywords: tuple[KeywordAnswer, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One refusal: where in the file (a key path such as ``menus.main.options[2].route``,
    array entries counted from 0) and, when the source is known, on which line."""

    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        parts = [f"line {self.line}"] if self.line is not None else []
        if self.where:
            parts.append(self.where)
        parts.append(self.message)
        return ": ".join(parts)


class FlowInvalid(ValueError):
    """A flow file that cannot run, with every problem found (not only the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- parsing ------------------------------------------------------------------------------

_ID = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_WORD_CHARS = re.compile(r"\w")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")

_NO_BUTTONS = ("SMS has no buttons: write the choices into the text, e.g. "
               "'Reply 1 for billing'")
_NOT_ON_SMS = {
    "buttons": _NO_BUTTONS,
    "button": _NO_BUTTONS,
    "carousel": "SMS has no carousels: " + _NO_BUTTONS[len("SMS has no buttons: "):],
    "carousels": "SMS has no carousels: " + _NO_BUTTONS[len("SMS has no buttons: "):],
    "dropdown": "SMS has no dropdown lists: " + _NO_BUTTONS[len("SMS has no buttons: "):],
    "list": "SMS has no dropdown lists: " + _NO_BUTTONS[len("SMS has no buttons: "):],
    "article": "SMS has no structured articles or cards: send the words as text, or a link",
    "articles": "SMS has no structured articles or cards: send the words as text, or a link",
    "cards": "SMS has no structured articles or cards: send the words as text, or a link",
}

_ROOT_KEYS = ("greeting", "start", "replies_per_hour", "out_of_hours", "hand_off", "menus",
              "questions", "keywords")
_HAND_OFF_KEYS = ("text", "closed_text")
_MENU_KEYS = ("prompt", "invalid", "options")
_OPTION_KEYS = ("key", "label", "say", "route", "ask", "menu", "hand_off")
_QUESTION_KEYS = ("prompt", "field", "pattern", "retry", "tries", "then_say", "then_hand_off",
                  "then_route")
_KEYWORD_KEYS = ("words", "say")
_SAY_KEYS = ("text", "attachments", "video_url")
_ATTACHMENT_KEYS = ("sha256", "content_type", "filename", "size")


def parse_flow(source: str) -> Flow:
    """A flow file's TOML as a Flow, or FlowInvalid naming every problem with its line."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_ERROR_LINE.search(str(exc))
        line = int(found.group(1)) if found else None
        message = _TOML_ERROR_LINE.sub("", str(exc)).strip()
        raise FlowInvalid([Problem(line, "", f"not valid TOML: {message}")]) from exc
    reader = _Reader()
    flow = reader.flow(data)
    if reader.problems:
        lines = _Locator(source)
        located = [Problem(lines.line_of(p.where), p.where, p.message) for p in reader.problems]
        raise FlowInvalid(sorted(located, key=lambda p: p.line or 0))
    assert flow is not None
    return flow


class _Reader:
    """Turns tomllib's dict into a Flow, noting every problem on the way (paths, no lines)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def refuse(self, where: str, message: str) -> None:
        self.problems.append(Problem(None, where, message))

    # -- the shape

    def flow(self, data: dict[str, Any]) -> Flow | None:
        self.known_keys(data, "", _ROOT_KEYS)
        greeting = self.say_at(data, "", "greeting", placeholders=())
        start = self.text_at(data, "", "start", default=None)
        per_hour = self.whole_number_at(data, "", "replies_per_hour", DEFAULT_REPLIES_PER_HOUR,
                                        REPLIES_PER_HOUR_RANGE)
        out_of_hours = self.text_at(data, "", "out_of_hours", default="",
                                    placeholders=(NEXT_OPENING,))
        hand_off = self.hand_off(data)
        menus = {mid: menu for mid, menu in self.entries(data, "menus", self.menu)}
        questions = {qid: q for qid, q in self.entries(data, "questions", self.question)}
        keywords = tuple(self.keywords(data))
        if start is not None and start not in menus:
            self.refuse("start", f"there is no menu {start!r}: add [menus.{start}] or change start")
        for menu in menus.values():
            for i, option in enumerate(menu.options):
                where = f"menus.{menu.id}.options[{i}]"
                if option.ask is not None and option.ask not in questions:
                    self.refuse(f"{where}.ask", f"there is no question {option.ask!r}: add "
                                f"[questions.{option.ask}] or change ask")
                if option.menu is not None and option.menu not in menus:
                    self.refuse(f"{where}.menu", f"there is no menu {option.menu!r}: add "
                                f"[menus.{option.menu}] or change menu")
        if self.problems:
            return None
        return Flow(greeting=greeting, start=start, replies_per_hour=per_hour,
                    out_of_hours=out_of_hours or "", hand_off=hand_off, menus=menus,
                    questions=questions, keywords=keywords)

    def hand_off(self, data: dict[str, Any]) -> HandOff:
        table = self.table_at(data, "", "hand_off")
        if table is None:
            return HandOff(text=DEFAULT_HAND_OFF_TEXT)
        self.known_keys(table, "hand_off", _HAND_OFF_KEYS)
        text = self.text_at(table, "hand_off", "text", default=DEFAULT_HAND_OFF_TEXT,
                            required_words=True)
        closed = self.text_at(table, "hand_off", "closed_text", default="",
                              placeholders=(NEXT_OPENING,))
        return HandOff(text=text or DEFAULT_HAND_OFF_TEXT, closed_text=closed or "")

    def entries(self, data: dict[str, Any], name: str, read) -> Iterator[tuple[str, Any]]:
        table = self.table_at(data, "", name)
        for entry_id, value in (table or {}).items():
            where = f"{name}.{entry_id}"
            if not _ID.fullmatch(entry_id):
                self.refuse(where, f"a {name[:-1]}'s name may use only letters, digits, _ and -")
                continue
            if not isinstance(value, dict):
                self.refuse(where, f"must be a table [{where}], not {_describe(value)}")
                continue
            item = read(entry_id, value, where)
            if item is not None:
                yield entry_id, item

    def menu(self, menu_id: str, table: dict[str, Any], where: str) -> Menu | None:
        self.known_keys(table, where, _MENU_KEYS)
        prompt = self.say_at(table, where, "prompt", placeholders=(), required=True)
        invalid = self.text_at(table, where, "invalid", default="")
        options: list[Option] = []
        seen: dict[str, int] = {}
        raw = table.get("options", [])
        if not _is_table_list(raw):
            self.refuse(f"{where}.options", f"must be [[{where}.options]] tables, one per "
                        f"choice, not {_describe(raw)}")
            raw = None
        if raw == []:
            self.refuse(where, f"a menu needs at least one choice: add [[{where}.options]]")
        for i, entry in enumerate(raw or []):
            option = self.option(entry, f"{where}.options[{i}]")
            if option is None:
                continue
            key = menu_key(option.key)
            if key in seen:
                self.refuse(f"{where}.options[{i}].key", f"two choices answer to {option.key!r}: "
                            f"options[{seen[key]}] has it already")
            seen.setdefault(key, i)
            options.append(option)
        if prompt is None:
            return None
        return Menu(id=menu_id, prompt=prompt, invalid=invalid or "", options=tuple(options))

    def option(self, table: dict[str, Any], where: str) -> Option | None:
        self.known_keys(table, where, _OPTION_KEYS)
        key = self.text_at(table, where, "key", default=None)
        if key is None or not menu_key(key):
            self.refuse(f"{where}.key", "each choice needs a key: what the customer texts, "
                        'e.g. key = "1"')
        label = self.text_at(table, where, "label", default="")
        say = self.say_at(table, where, "say", placeholders=())
        route = self.name_at(table, where, "route")
        ask = self.name_at(table, where, "ask")
        menu = self.name_at(table, where, "menu")
        hand_off = self.flag_at(table, where, "hand_off")
        if not (say or route or ask or menu or hand_off) and "say" not in table:
            self.refuse(where, "this choice does nothing: give it a say, route, ask, menu or "
                        "hand_off = true")
        if ask is not None and menu is not None:
            self.refuse(where, "a choice either asks a question or opens a menu, not both")
        if hand_off and (ask is not None or menu is not None):
            self.refuse(where, "a choice that hands off ends the bot's part: it cannot also "
                        "ask or open a menu")
        if key is None:
            return None
        return Option(key=key.strip(), label=label or "", say=say, route=route, ask=ask,
                      menu=menu, hand_off=hand_off)

    def question(self, qid: str, table: dict[str, Any], where: str) -> Question | None:
        self.known_keys(table, where, _QUESTION_KEYS)
        prompt = self.say_at(table, where, "prompt", placeholders=(), required=True)
        field_key = self.text_at(table, where, "field", default=None)
        if field_key is not None and not field_key.strip():
            field_key = None
        if field_key is None and "field" in table and isinstance(table["field"], str):
            self.refuse(f"{where}.field", "field is empty: name the ticket field the answer "
                        "is saved in")
        elif field_key is None and "field" not in table:
            self.refuse(where, 'a question needs field = "<ticket field key>" to save the '
                        "answer in")
        pattern = self.text_at(table, where, "pattern", default=None)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.refuse(f"{where}.pattern", f"not a valid pattern: {exc}")
        retry = self.text_at(table, where, "retry", default="")
        tries = self.whole_number_at(table, where, "tries", DEFAULT_TRIES, TRIES_RANGE)
        then_say = self.say_at(table, where, "then_say", placeholders=(ANSWER,))
        then_hand_off = self.flag_at(table, where, "then_hand_off")
        then_route = self.name_at(table, where, "then_route")
        if prompt is None or field_key is None:
            return None
        return Question(id=qid, prompt=prompt, field=field_key, pattern=pattern,
                        retry=retry or "", tries=tries, then_say=then_say,
                        then_hand_off=then_hand_off, then_route=then_route)

    def keywords(self, data: dict[str, Any]) -> Iterator[KeywordAnswer]:
        raw = data.get("keywords", [])
        if not _is_table_list(raw):
            self.refuse("keywords", f"must be [[keywords]] tables, not {_describe(raw)}")
            return
        for i, table in enumerate(raw):
            where = f"keywords[{i}]"
            self.known_keys(table, where, _KEYWORD_KEYS)
            words = table.get("words")
            if not (isinstance(words, list) and words
                    and all(isinstance(w, str) and _WORD_CHARS.search(w) for w in words)):
                self.refuse(f"{where}.words", 'words must be a list of words or phrases (with '
                            'letters or digits), e.g. words = ["hours", "opening"]')
                words = None
            say = self.say_at(table, where, "say", placeholders=(), required=True)
            if words is not None and say is not None:
                yield KeywordAnswer(words=tuple(words), say=say)

    # -- values

    def known_keys(self, table: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            at = f"{where}.{key}" if where else key
            if key.lower() in _NOT_ON_SMS:
                self.refuse(at, _NOT_ON_SMS[key.lower()])
            elif key not in allowed:
                self.refuse(at, f"unknown key {key!r}; allowed here: {', '.join(allowed)}")

    def table_at(self, data: dict[str, Any], where: str, key: str) -> dict[str, Any] | None:
        value = data.get(key)
        if value is None or isinstance(value, dict):
            return value
        at = _join(where, key)
        self.refuse(at, f"must be a table [{at}], not {_describe(value)}")
        return None

    def text_at(self, data: dict[str, Any], where: str, key: str, *, default: str | None,
                placeholders: tuple[str, ...] = (), required_words: bool = False) -> str | None:
        if key not in data:
            return default
        value, at = data[key], _join(where, key)
        if not isinstance(value, str):
            hint = " (attachments go only with greeting, prompt and say)" if isinstance(
                value, dict) else ""
            self.refuse(at, f"must be a quoted string, not {_describe(value)}{hint}")
            return default
        if required_words and not value.strip():
            self.refuse(at, "is empty: write what the bot says")
        self.check_text(at, value, placeholders)
        return value

    def name_at(self, data: dict[str, Any], where: str, key: str) -> str | None:
        value = self.text_at(data, where, key, default=None)
        if value is not None and not value.strip():
            self.refuse(_join(where, key), f"{key} is empty: name it or leave {key} out")
            return None
        return value

    def flag_at(self, data: dict[str, Any], where: str, key: str) -> bool:
        value = data.get(key, False)
        if type(value) is not bool:
            self.refuse(_join(where, key), f"must be true or false, not {_describe(value)}")
            return False
        return value

    def whole_number_at(self, data: dict[str, Any], where: str, key: str, default: int,
                        bounds: tuple[int, int]) -> int:
        value = data.get(key, default)
        low, high = bounds
        if type(value) is not int or not low <= value <= high:
            self.refuse(_join(where, key), f"must be a whole number from {low} to {high}, "
                        f"not {_describe(value)}")
            return default
        return value

    def check_text(self, where: str, text: str, placeholders: tuple[str, ...]) -> None:
        if len(text) > MAX_BODY_CHARS:
            self.refuse(where, f"is {len(text):,} characters; an SMS/MMS text holds at most "
                        f"{MAX_BODY_CHARS:,}: shorten it by {len(text) - MAX_BODY_CHARS:,}")
        for found in _PLACEHOLDER.finditer(text):
            if found.group(0) in placeholders:
                continue
            allowed = (f"here only {' and '.join(placeholders)} is filled in" if placeholders
                       else "nothing is filled in here")
            self.refuse(where, f"{found.group(0)} is not a placeholder the bot fills: {allowed}")

    def say_at(self, data: dict[str, Any], where: str, key: str, *,
               placeholders: tuple[str, ...], required: bool = False) -> Say | None:
        at = _join(where, key)
        if key not in data:
            if required:
                self.refuse(where, f"needs {key} = \"…\": what the bot says")
            return None
        value = data[key]
        if isinstance(value, str):
            if not value.strip():
                self.refuse(at, "is empty: write what the bot says, or leave it out")
            self.check_text(at, value, placeholders)
            return Say(value)
        if not isinstance(value, dict):
            self.refuse(at, f"must be a quoted string or a table {{ text = \"…\", attachments "
                        f"= [...] }}, not {_describe(value)}")
            return None
        self.known_keys(value, at, _SAY_KEYS)
        text = self.text_at(value, at, "text", default="", placeholders=placeholders) or ""
        video_url = self.text_at(value, at, "video_url", default="") or ""
        if video_url and not re.fullmatch(r"https?://\S+", video_url):
            self.refuse(f"{at}.video_url", 'a video goes as a public link: video_url = '
                        '"https://…"')
        attachments = tuple(self.attachments(value.get("attachments", []), f"{at}.attachments"))
        say = Say(text, attachments, video_url)
        if not say.as_sent().strip() and not attachments:
            self.refuse(at, "says nothing: give it text, an attachment or a video_url")
        if video_url and len(say.as_sent()) > MAX_BODY_CHARS >= len(text):
            self.refuse(at, f"with the video's link it is {len(say.as_sent()):,} characters; "
                        f"an SMS/MMS text holds at most {MAX_BODY_CHARS:,}")
        return say

    def attachments(self, raw: Any, where: str) -> Iterator[Attachment]:
        if not _is_table_list(raw):
            self.refuse(where, 'must be a list of tables { sha256 = "…", content_type = "…", '
                        f'filename = "…", size = … }}, not {_describe(raw)}')
            return
        if len(raw) > MAX_MEDIA:
            self.refuse(where, f"{len(raw)} attachments; one message carries at most {MAX_MEDIA}")
        total = 0
        for i, table in enumerate(raw):
            at = f"{where}[{i}]"
            self.known_keys(table, at, _ATTACHMENT_KEYS)
            sha = self.text_at(table, at, "sha256", default=None)
            if sha is None or not _SHA256.fullmatch(sha):
                self.refuse(f"{at}.sha256", "sha256 must be the file's digest: 64 lower-case "
                            "hex digits")
            content_type = self.text_at(table, at, "content_type", default=None)
            if content_type is None:
                self.refuse(at, 'needs content_type = "image/png" (or another MMS type)')
            else:
                self.media_type_allowed(f"{at}.content_type", content_type)
            filename = self.text_at(table, at, "filename", default="") or ""
            size = self.whole_number_at(table, at, "size", 0, (0, 1 << 62))
            total += size
            if sha is not None and content_type is not None:
                yield Attachment(sha, content_type, filename, size)
        if total > MAX_MEDIA_TOTAL_BYTES:
            self.refuse(where, f"the attachments come to {total / (1024 * 1024):.1f} MB; one "
                        f"message carries at most {MAX_MEDIA_TOTAL_BYTES // (1024 * 1024)} MB")

    def media_type_allowed(self, where: str, content_type: str) -> None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type.startswith("audio/"):
            self.refuse(where, "a bot cannot send audio by SMS/MMS (the channel's table: "
                        "Bot to user, Audio: No)")
        elif media_type.startswith("video/"):
            self.refuse(where, 'send a video as a public link: video_url = "https://…"')
        elif media_type == "image/gif":
            self.refuse(where, "GIF: not for bots (the channel's table: Bot to user, GIF: —); "
                        "send a PNG or JPEG")
        elif media_type not in ACCEPTED_MEDIA_TYPES:
            self.refuse(where, f"{content_type!r} is not a type Twilio sends by MMS "
                        "(images such as image/png, files such as application/pdf)")


def menu_key(text: str) -> str:
    """A menu key or a customer's choice as compared: trimmed, case-folded, "1." and "1)" as "1"."""
    return text.strip().casefold().rstrip(".)").strip()


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# --- where a key path is in the source ----------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_HEADER = re.compile(r"\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"""\s*((?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
                       r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'))*)\s*=""")
_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"((?:[^"\\]|\\.)*)"|'([^']*)'""")


def line_of(source: str, where: str) -> int | None:
    """The line of ``where`` (``menus.main.options[2].route``) in a flow file, or of the
    nearest table that holds it; None when nothing in the file names it."""
    return _Locator(source).line_of(where)


class _Locator:
    """Maps key paths to source lines: tomllib keeps no positions, so the file is scanned for
    table headers (counting ``[[array]]`` entries) and ``key =`` lines."""

    def __init__(self, source: str) -> None:
        self.lines: dict[str, int] = {}
        arrays: dict[str, int] = {}
        table = ""
        depth = 0
        in_multiline: str | None = None
        for number, line in enumerate(source.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            bare = _STRINGS.sub('""', line.replace('"""', "\0").replace("'''", "\1"))
            for quote, mark in (('"""', "\0"), ("'''", "\1")):
                if bare.count(mark) % 2 == 1:
                    in_multiline = quote
            bare = bare.split("#", 1)[0]
            if depth == 0:
                header = _HEADER.match(line)
                if header and line.lstrip().startswith("["):
                    table = self.header(header.group(2), header.group(1) == "[[", arrays)
                    self.note(table, number)
                    continue
                key = _KEY_LINE.match(line)
                if key:
                    self.note(_join(table, ".".join(_key_parts(key.group(1)))), number)
            depth = max(0, depth + sum(bare.count(c) for c in "[{")
                        - sum(bare.count(c) for c in "]}"))

    def header(self, text: str, is_array: bool, arrays: dict[str, int]) -> str:
        path = ""
        parts = _key_parts(text)
        for i, part in enumerate(parts):
            path = _join(path, part)
            last = i == len(parts) - 1
            if last and is_array:
                arrays[path] = arrays.get(path, 0) + 1
                path = f"{path}[{arrays[path] - 1}]"
            elif path in arrays:
                path = f"{path}[{arrays[path] - 1}]"
        return path

    def note(self, path: str, number: int) -> None:
        prefix = path
        self.lines.setdefault(prefix, number)
        while (shorter := _parent(prefix)) is not None:
            self.lines.setdefault(shorter, number)
            prefix = shorter
        self.lines[path] = self.lines.get(path, number)

    def line_of(self, where: str) -> int | None:
        path: str | None = where
        while path:
            if path in self.lines:
                return self.lines[path]
            path = _parent(path)
        return None


def _key_parts(text: str) -> list[str]:
    parts = []
    for found in _KEY_PART.finditer(text):
        if found.group(1) is not None:
            parts.append(found.group(1))
        elif found.group(2) is not None:
            parts.append(found.group(2))
        else:
            parts.append(found.group(0))
    return parts


def _parent(path: str) -> str | None:
    """'a.b[2].c' -> 'a.b[2]' -> 'a.b' -> 'a' -> ''; None past the root."""
    if not path:
        return None
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rsplit(".", 1)[0] if "." in path else ""


# --- writing ------------------------------------------------------------------------------

#: What a TOML basic string may not hold raw, as its escape: the quote, the backslash and the
#: control characters (the short forms where TOML has them, else \\uXXXX).
_TOML_ESCAPES = {code: f"\\u{code:04X}" for code in [*range(0x20), 0x7F]} | {
    ord(char): escape for char, escape in (('"', '\\"'), ("\\", "\\\\"), ("\b", "\\b"),
                                           ("\t", "\\t"), ("\n", "\\n"), ("\f", "\\f"),
                                           ("\r", "\\r"))}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest
    (emoji included) as is. Lone surrogates are not text TOML can hold."""
    surrogate = _LONE_SURROGATE.search(value)
    if surrogate:
        raise ValueError(f"U+{ord(surrogate.group()):04X} is a lone surrogate, which TOML "
                         "cannot store")
    return '"' + value.translate(_TOML_ESCAPES) + '"'


def _key(name: str) -> str:
    return name if _ID.fullmatch(name) else toml_string(name)


def _say_value(say: Say) -> str:
    if not say.attachments and not say.video_url:
        return toml_string(say.text)
    parts = [f"text = {toml_string(say.text)}"]
    if say.attachments:
        items = ", ".join(
            "{ " + ", ".join([f"sha256 = {toml_string(a.sha256)}",
                              f"content_type = {toml_string(a.content_type)}",
                              f"filename = {toml_string(a.filename)}", f"size = {a.size}"]) + " }"
            for a in say.attachments)
        parts.append(f"attachments = [{items}]")
    if say.video_url:
        parts.append(f"video_url = {toml_string(say.video_url)}")
    return "{ " + ", ".join(parts) + " }"


def flow_to_toml(flow: Flow) -> str:
    """The flow as the TOML file an admin exports; parse_flow reads it back as an equal Flow."""
    out = ["# smsdesk bot flow"]
    if flow.greeting is not None:
        out.append(f"greeting = {_say_value(flow.greeting)}")
    if flow.start is not None:
        out.append(f"start = {toml_string(flow.start)}")
    out.append(f"replies_per_hour = {flow.replies_per_hour}")
    if flow.out_of_hours:
        out.append(f"out_of_hours = {toml_string(flow.out_of_hours)}")
    out += ["", "[hand_off]", f"text = {toml_string(flow.hand_off.text)}"]
    if flow.hand_off.closed_text:
        out.append(f"closed_text = {toml_string(flow.hand_off.closed_text)}")
    for menu in flow.menus.values():
        name = f"menus.{_key(menu.id)}"
        out += ["", f"[{name}]", f"prompt = {_say_value(menu.prompt)}"]
        if menu.invalid:
            out.append(f"invalid = {toml_string(menu.invalid)}")
        for option in menu.options:
            out += ["", f"[[{name}.options]]", f"key = {toml_string(option.key)}"]
            if option.label:
                out.append(f"label = {toml_string(option.label)}")
            if option.say is not None:
                out.append(f"say = {_say_value(option.say)}")
            for key in ("route", "ask", "menu"):
                value = getattr(option, key)
                if value is not None:
                    out.append(f"{key} = {toml_string(value)}")
            if option.hand_off:
                out.append("hand_off = true")
    for question in flow.questions.values():
        out += ["", f"[questions.{_key(question.id)}]",
                f"prompt = {_say_value(question.prompt)}", f"field = {toml_string(question.field)}"]
        if question.pattern is not None:
            out.append(f"pattern = {toml_string(question.pattern)}")
        if question.retry:
            out.append(f"retry = {toml_string(question.retry)}")
        out.append(f"tries = {question.tries}")
        if question.then_say is not None:
            out.append(f"then_say = {_say_value(question.then_say)}")
        if question.then_hand_off:
            out.append("then_hand_off = true")
        if question.then_route is not None:
            out.append(f"then_route = {toml_string(question.then_route)}")
    for keyword in flow.keywords:
        words = ", ".join(toml_string(w) for w in keyword.words)
        out += ["", "[[keywords]]", f"words = [{words}]", f"say = {_say_value(keyword.say)}"]
    return "\n".join(out) + "\n"


# --- checks against the number and the desk -----------------------------------------------


def says_of(flow: Flow) -> Iterator[tuple[str, Say]]:
    """Every bot text of the flow with its key path, as a Say (plain strings wrapped)."""
    if flow.greeting is not None:
        yield "greeting", flow.greeting
    if flow.out_of_hours:
        yield "out_of_hours", Say(flow.out_of_hours)
    yield "hand_off.text", Say(flow.hand_off.text)
    if flow.hand_off.closed_text:
        yield "hand_off.closed_text", Say(flow.hand_off.closed_text)
    for menu in flow.menus.values():
        yield f"menus.{menu.id}.prompt", menu.prompt
        if menu.invalid:
            yield f"menus.{menu.id}.invalid", Say(menu.invalid)
        for i, option in enumerate(menu.options):
            if option.say is not None:
                yield f"menus.{menu.id}.options[{i}].say", option.say
    for question in flow.questions.values():
        where = f"questions.{question.id}"
        yield f"{where}.prompt", question.prompt
        if question.retry:
            yield f"{where}.retry", Say(question.retry)
        if question.then_say is not None:
            yield f"{where}.then_say", question.then_say
    for i, keyword in enumerate(flow.keywords):
        yield f"keywords[{i}].say", keyword.say


def texts_of(flow: Flow) -> list[tuple[str, str]]:
    """(where, text as sent) for every bot text, in file order: the editor counts segments."""
    return [(where, say.as_sent()) for where, say in says_of(flow)]


def problems_for_number(flow: Flow, *, mms: bool, groups: Iterable[str],
                        fields: Iterable[str], source: str | None = None) -> list[Problem]:
    """What stops this flow running on a number of this desk: attachments on an SMS-only
    number, a route to a group that does not exist, an answer saved into an unknown field.
    With the flow's ``source``, each problem carries its line."""
    group_names, field_keys = set(groups), set(fields)
    problems: list[Problem] = []
    if not mms:
        for where, say in says_of(flow):
            if say.attachments:
                problems.append(Problem(None, f"{where}.attachments", (
                    "this number is SMS-only: the bot can send text only (attachments need an "
                    "MMS-capable number)")))
    routes = [(f"menus.{m.id}.options[{i}].route", o.route)
              for m in flow.menus.values() for i, o in enumerate(m.options)]
    routes += [(f"questions.{q.id}.then_route", q.then_route) for q in flow.questions.values()]
    for where, group in routes:
        if group is not None and group not in group_names:
            problems.append(Problem(None, where, f"there is no group named {group!r}"))
    for question in flow.questions.values():
        if question.field not in field_keys:
            problems.append(Problem(None, f"questions.{question.id}.field",
                                    f"there is no ticket field with the key {question.field!r}"))
    if source is not None:
        lines = _Locator(source)
        problems = [Problem(lines.line_of(p.where), p.where, p.message) for p in problems]
    return problems
