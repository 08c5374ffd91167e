"""The form for one node of a bot flow: the greeting, out-of-hours and hand-off texts, a menu,
a menu's option, a question or a keyword answer; ctrl+s keeps it, esc leaves it as it was.

Every bot text shows its cost as it is typed ("2 segments · UCS-2"). Groups, fields, menus and
questions are picked from lists, so a flow never names one that is not there. The form asks
the pane whether the node can run (``check``: core.bot_flow's own words) and stays open on a
refusal. On an SMS-only number it says the bot sends text only and offers no attachment; on
an MMS number a file path may be given, uploaded by the pane once the form is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from core.bot_flow import (
    Attachment,
    Flow,
    HandOff,
    KeywordAnswer,
    Menu,
    Option,
    Question,
    Say,
)
from tui.screens.admin.bot_edits import NodeRef
from tui.screens.admin.bot_tree import cost

SMS_ONLY = "SMS-only number: the bot sends text only (attachments need an MMS-capable number)."
NO_BUTTONS = ("SMS has no buttons, carousels or lists: write the choices into the text,"
              " e.g. 'Reply 1 for billing'.")

Check = Callable[[NodeRef, Any], list[str]]


@dataclass(frozen=True)
class Choices:
    """What the form's pickers offer: names only, as the flow file stores them."""

    menus: Sequence[str] = ()
    questions: Sequence[str] = ()
    groups: Sequence[str] = ()
    fields: Sequence[tuple[str, str]] = ()  # (key, label)


@dataclass(frozen=True)
class Edited:
    """What the form kept: the node's new value, and files to upload first (by the stand-in
    digest each pending attachment carries until the relay stores it)."""

    value: Any
    uploads: dict[str, Path] = field(default_factory=dict)


class FormProblem(ValueError):
    """Something the form itself can tell is wrong (a file that is not there, a count that is
    not a number)."""


def pending_digest(n: int) -> str:
    """A stand-in sha256 for the n-th file still to upload (never a real file's digest in
    practice: 63 zeros and a digit)."""
    return f"{n:064x}"


class SayField(Vertical):
    """One bot text: the words with their live cost, a video link, and on MMS numbers the
    attachments (kept, removed, or one more file by path)."""

    def __init__(self, name: str, title: str, say: Say | None, *, mms: bool,
                 optional: bool = True) -> None:
        super().__init__(id=f"say-{name}", classes="say-field")
        self.name_ = name
        self.title = title
        self.say = say
        self.mms = mms
        self.optional = optional

    def compose(self) -> ComposeResult:
        say = self.say or Say("")
        yield Label(self.title + (" (optional)" if self.optional else ""), classes="form-label")
        yield TextArea(say.text, soft_wrap=True, id=f"{self.name_}-text",
                       classes="say-text form-first")
        yield Static("", id=f"{self.name_}-cost", classes="form-hint")
        yield Input(say.video_url, placeholder="video: a public link, https://… (optional)",
                    id=f"{self.name_}-video")
        if not self.mms:
            yield Static(SMS_ONLY, classes="form-note sms-only")
            if say.attachments:
                yield Checkbox("remove the attachments (this number cannot send them)",
                               value=True, id=f"{self.name_}-drop")
            return
        if say.attachments:
            names = ", ".join(a.filename or a.sha256[:12] for a in say.attachments)
            yield Static(f"Attached: {names}", classes="form-hint")
            yield Checkbox("remove the attachments", id=f"{self.name_}-drop")
        yield Input(placeholder="attach a file: its path (optional; image or PDF, not audio,"
                    " video or GIF)", id=f"{self.name_}-file")

    def on_mount(self) -> None:
        self.recount()

    @on(TextArea.Changed)
    @on(Input.Changed)
    def recount(self) -> None:
        text = self.query_one(f"#{self.name_}-text", TextArea).text
        video = self.query_one(f"#{self.name_}-video", Input).value.strip()
        sent = Say(text, video_url=video).as_sent()
        self.query_one(f"#{self.name_}-cost", Static).update(
            f"{cost(sent)} · {len(sent)} characters" if sent else "")

    async def value(self, uploads: dict[str, Path]) -> Say | None:
        """The text as typed; a new file gets a stand-in attachment and joins ``uploads``."""
        text = self.query_one(f"#{self.name_}-text", TextArea).text.strip()
        video = self.query_one(f"#{self.name_}-video", Input).value.strip()
        kept = tuple((self.say or Say("")).attachments)
        drop = self.query(f"#{self.name_}-drop")
        if drop and drop.first(Checkbox).value:
            kept = ()
        files = self.query(f"#{self.name_}-file")
        typed = files.first(Input).value.strip() if files else ""
        if typed:
            path = Path(typed).expanduser()
            try:
                size = (await asyncio.to_thread(path.stat)).st_size
            except OSError as error:
                raise FormProblem(f"{self.title}: cannot read {path}: {error.strerror}") from None
            digest = pending_digest(len(uploads) + 1)
            uploads[digest] = path
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            kept = (*kept, Attachment(digest, kind, path.name, size))
        if not (text or video or kept):
            if self.optional:
                return None
            raise FormProblem(f"{self.title}: type what the bot says")
        return Say(text, attachments=kept, video_url=video)


def _select(options: Sequence[tuple[str, str]], value: str | None, id: str) -> Select[str]:
    """A picker; a name the desk no longer has stays picked, marked, so keeping the form
    never drops it silently (the check then says what is wrong with it)."""
    choices = list(options)
    if value is not None and value not in {v for _, v in choices}:
        choices.append((f"{value} (not found)", value))
    return Select(choices, prompt="(none)", allow_blank=True,
                  value=value if value is not None else Select.NULL, id=id)


class NodeForm(ModalScreen[Edited | None]):
    """The fields of one node, by kind; ctrl+s checks and keeps, esc cancels."""

    CSS_PATH: ClassVar[list[str]] = ["../pickers.tcss", "bot_node_form.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "keep", "Keep", id="flow.keep"),
        Binding("escape", "cancel", "Cancel", show=False, id="flow.cancel"),
    ]

    def __init__(self, ref: NodeRef, value: Any, *, choices: Choices, mms: bool,
                 check: Check) -> None:
        super().__init__()
        self.ref = ref
        self.value = value
        self.choices = choices
        self.mms = mms
        self.check = check

    TITLES: ClassVar[dict[str, str]] = {
        "greeting": "The greeting", "out_of_hours": "Out of hours", "hand_off": "Hand-off",
        "menu": "A menu", "option": "A menu's choice", "question": "A question",
        "keyword": "A keyword answer"}

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog", id="bot-form"):
            yield Label(self.TITLES[self.ref[0]], classes="picker-title")
            with VerticalScroll(id="bot-form-fields"):
                yield from getattr(self, f"_{self.ref[0]}_fields")(self.value)
            yield Static("", id="bot-form-error", classes="picker-error")
            yield Static("ctrl+s keeps · esc cancels · ctrl+s on the tab saves to the relay",
                         classes="picker-hint")

    def on_mount(self) -> None:
        self.query(".form-first").first().focus()

    # --- the fields of each kind -----------------------------------------------------------

    def _line(self, label: str, value: str, id: str, placeholder: str = "",
              first: bool = False) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield Input(value, placeholder=placeholder, id=id,
                        classes="form-first" if first else "")

    def _text(self, label: str, value: str, id: str, first: bool = False) -> ComposeResult:
        yield Label(label, classes="form-label")
        yield TextArea(value, soft_wrap=True, id=id,
                       classes="say-text" + (" form-first" if first else ""))
        yield Static("", id=f"{id}-cost", classes="form-hint text-cost")

    def _pick(self, label: str, options: Sequence[tuple[str, str]], value: str | None,
              id: str) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield _select(options, value, id)

    def _greeting_fields(self, flow: Flow) -> ComposeResult:
        say = SayField("greeting", "Greeting, sent first on a new conversation", flow.greeting,
                       mms=self.mms)
        yield say
        yield from self._pick("Then the menu", [(m, m) for m in self.choices.menus],
                              flow.start, "form-start")
        yield from self._line("Bot texts per ticket an hour, at most (1-30)",
                              str(flow.replies_per_hour), "form-per-hour")

    def _out_of_hours_fields(self, text: str) -> ComposeResult:
        yield from self._text("Sent once per closed period; {next_opening} is when we open",
                              text, "form-out-of-hours", first=True)

    def _hand_off_fields(self, hand_off: HandOff) -> ComposeResult:
        yield from self._text("When the bot hands the ticket to a person", hand_off.text,
                              "form-hand-off", first=True)
        yield from self._text("The same when closed (optional; {next_opening} allowed)",
                              hand_off.closed_text, "form-closed-text")

    def _menu_fields(self, menu: Menu) -> ComposeResult:
        yield from self._line("Name", menu.id, "form-id", "e.g. main", first=True)
        yield SayField("prompt", "Prompt (list the choices: Reply 1 for …)", menu.prompt,
                       mms=self.mms, optional=False)
        yield Static(NO_BUTTONS, classes="form-note")
        yield from self._text("When the answer is none of the choices", menu.invalid,
                              "form-invalid")

    def _option_fields(self, option: Option) -> ComposeResult:
        yield from self._line("Key (what the customer texts)", option.key, "form-key",
                              "e.g. 1", first=True)
        yield from self._line("Label", option.label, "form-label", "e.g. Billing")
        yield SayField("say", "Say", option.say, mms=self.mms)
        yield from self._pick("Move the ticket to group", [(g, g) for g in self.choices.groups],
                              option.route, "form-route")
        yield from self._pick("Then ask", [(q, q) for q in self.choices.questions],
                              option.ask, "form-ask")
        yield from self._pick("Then show menu", [(m, m) for m in self.choices.menus],
                              option.menu, "form-menu")
        yield Checkbox("then hand off to a person", option.hand_off, id="form-hand-off-flag")

    def _question_fields(self, question: Question) -> ComposeResult:
        yield from self._line("Name", question.id, "form-id", "e.g. order", first=True)
        yield SayField("prompt", "Question", question.prompt, mms=self.mms, optional=False)
        yield from self._pick("Save the answer in field",
                              [(f"{label} ({key})", key) for key, label in self.choices.fields],
                              question.field or None, "form-field")
        yield from self._line("Pattern (optional)", question.pattern or "", "form-pattern",
                              "a Python regex the whole answer matches, e.g. AC-?[0-9]{5}")
        yield from self._text("When the answer does not match", question.retry, "form-retry")
        yield from self._line("Asked again at most (0-5)", str(question.tries), "form-tries")
        yield SayField("then_say", "Then say ({answer} is the answer)", question.then_say,
                       mms=self.mms)
        yield from self._pick("Then move the ticket to group",
                              [(g, g) for g in self.choices.groups], question.then_route,
                              "form-then-route")
        yield Checkbox("then hand off to a person", question.then_hand_off,
                       id="form-then-hand-off")

    def _keyword_fields(self, keyword: KeywordAnswer) -> ComposeResult:
        yield from self._line("Words (comma between; any language)", ", ".join(keyword.words),
                              "form-words", "hours, opening, horario", first=True)
        yield SayField("say", "Answer", keyword.say, mms=self.mms, optional=False)

    # --- costs of the plain texts ---------------------------------------------------------

    @on(TextArea.Changed)
    def _recount(self, event: TextArea.Changed) -> None:
        found = self.query(f"#{event.text_area.id}-cost")
        if found:
            text = event.text_area.text
            found.first(Static).update(f"{cost(text)} · {len(text)} characters" if text else "")

    def on_ready(self) -> None:
        for area in self.query(TextArea):
            self._recount(TextArea.Changed(area))

    # --- keeping ---------------------------------------------------------------------------

    def action_keep(self) -> None:
        self.keep()

    @work(exclusive=True, group="bot-form")
    async def keep(self) -> None:
        uploads: dict[str, Path] = {}
        try:
            value = await self.read(uploads)
        except FormProblem as problem:
            self._refuse([str(problem)])
            return
        problems = self.check(self.ref, value)
        if problems:
            self._refuse(problems)
            return
        self.dismiss(Edited(value, uploads))

    def _refuse(self, problems: list[str]) -> None:
        self.query_one("#bot-form-error", Static).update(Text("\n".join(
            f"✗ {p}" for p in problems)))
        self.app.bell()

    def _input(self, id: str) -> str:
        return self.query_one(f"#{id}", Input).value.strip()

    def _area(self, id: str) -> str:
        return self.query_one(f"#{id}", TextArea).text.strip()

    def _picked(self, id: str) -> str | None:
        value = self.query_one(f"#{id}", Select).value
        return value if isinstance(value, str) else None

    def _number(self, id: str, label: str) -> int:
        typed = self._input(id)
        try:
            return int(typed)
        except ValueError:
            raise FormProblem(f"{label}: type a whole number, not {typed!r}") from None

    async def _say(self, name: str, uploads: dict[str, Path]) -> Say | None:
        return await self.query_one(f"#say-{name}", SayField).value(uploads)

    async def read(self, uploads: dict[str, Path]) -> Any:
        """The node as the form now says, of the same type as the value it was opened with."""
        kind = self.ref[0]
        if kind == "greeting":
            return dataclasses.replace(
                self.value, greeting=await self._say("greeting", uploads),
                start=self._picked("form-start"),
                replies_per_hour=self._number("form-per-hour", "Bot texts an hour"))
        if kind == "out_of_hours":
            return self._area("form-out-of-hours")
        if kind == "hand_off":
            return HandOff(text=self._area("form-hand-off"),
                           closed_text=self._area("form-closed-text"))
        if kind == "menu":
            prompt = await self._say("prompt", uploads)
            assert prompt is not None
            return dataclasses.replace(self.value, id=self._input("form-id"), prompt=prompt,
                                       invalid=self._area("form-invalid"))
        if kind == "option":
            return Option(key=self._input("form-key"), label=self._input("form-label"),
                          say=await self._say("say", uploads), route=self._picked("form-route"),
                          ask=self._picked("form-ask"), menu=self._picked("form-menu"),
                          hand_off=self.query_one("#form-hand-off-flag", Checkbox).value)
        if kind == "question":
            prompt = await self._say("prompt", uploads)
            assert prompt is not None
            return Question(id=self._input("form-id"), prompt=prompt,
                            field=self._picked("form-field") or "",
                            pattern=self._input("form-pattern") or None,
                            retry=self._area("form-retry"),
                            tries=self._number("form-tries", "Asked again at most"),
                            then_say=await self._say("then_say", uploads),
                            then_hand_off=self.query_one("#form-then-hand-off", Checkbox).value,
                            then_route=self._picked("form-then-route"))
        words = tuple(w.strip() for w in self._input("form-words").split(",") if w.strip())
        if not words:
            raise FormProblem("Words: type at least one word the customer may text")
        say = await self._say("say", uploads)
        assert say is not None
        return KeywordAnswer(words=words, say=say)

    def action_cancel(self) -> None:
        self.dismiss(None)
