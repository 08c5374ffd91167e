"""Small modal dialogs that ask the agent for one value and hand it back via ``dismiss``.

Push them with ``app.push_screen(screen, callback)`` or, from a worker,
``await app.push_screen_wait(screen)``. Every dialog returns ``None`` on escape,
so "the agent changed their mind" needs no special case at the call site
(``ConfirmScreen`` returns ``False`` instead, it answers a yes/no question).

The list pickers keep the keyboard in a filter box above the list: typing
narrows, up/down move, enter picks. An agent never has to tab between widgets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

Choice = tuple[str, Any]
"""A label the agent sees and the value the dialog returns for it."""

MAX_TAG_LENGTH = 32
CURRENT_MARK = "● "
NO_MARK = "  "


@dataclass(frozen=True)
class Section:
    """A titled run of choices; the title is shown but cannot be picked."""

    title: str | None
    choices: Sequence[Choice]


def matches(query: str, text: str) -> bool:
    """Whether every word of the query occurs in the text, ignoring case."""
    folded = text.casefold()
    return all(word in folded for word in query.casefold().split())


class PickerScreen(ModalScreen[Any]):
    """A filter Input above an OptionList of sectioned choices; the base of the list pickers.

    Usable directly for a sectioned pick: ``PickerScreen(title, [Section(...), ...], current)``.
    """

    CSS_PATH = "pickers.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("up", "move('cursor_up')", show=False),
        Binding("down", "move('cursor_down')", show=False),
        Binding("pageup", "move('page_up')", show=False),
        Binding("pagedown", "move('page_down')", show=False),
    ]

    def __init__(self, title: str, sections: Sequence[Section], current: Any = None,
                 *, has_current: bool = False) -> None:
        """``has_current`` tells a current value of ``None`` from "no current value"."""
        super().__init__()
        self._title = title
        self._sections = list(sections)
        self._current = current
        self._has_current = has_current or current is not None
        self._values: list[Any] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog"):
            yield Label(self._title, classes="picker-title", markup=False)
            yield Input(placeholder="type to filter, enter to choose, esc to cancel",
                        id="picker-filter")
            option_list = OptionList(id="picker-options")
            # The filter box keeps the keyboard; the list answers to up/down via the screen.
            option_list.can_focus = False
            yield option_list

    def on_mount(self) -> None:
        self._refill("")
        self.query_one("#picker-filter", Input).focus()

    def _is_current(self, value: Any) -> bool:
        return self._has_current and value == self._current

    def _refill(self, query: str) -> None:
        """Show the choices matching ``query``; keep section titles only above matches."""
        option_list = self.query_one("#picker-options", OptionList)
        options: list[Option | None] = []
        self._values = []
        highlight: int | None = None
        for section in self._sections:
            shown = [
                (label, value) for label, value in section.choices
                if matches(query, f"{section.title or ''} {label}")
            ]
            if not shown:
                continue
            if section.title is not None:
                if options:
                    options.append(None)  # a divider line between sections
                options.append(Option(Text(section.title, style="bold"), disabled=True))
            for label, value in shown:
                current = self._is_current(value)
                if current and not query and highlight is None:
                    highlight = sum(1 for option in options if option is not None)
                mark = CURRENT_MARK if current else NO_MARK
                options.append(Option(Text(mark + label), id=f"v{len(self._values)}"))
                self._values.append(value)
        if not self._values:
            options = [Option(Text("nothing matches", style="italic"), disabled=True)]
        option_list.set_options(options)
        if highlight is not None:
            option_list.highlighted = highlight
        else:
            option_list.action_first()

    @on(Input.Changed, "#picker-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#picker-options", OptionList).action_select()

    @on(OptionList.OptionSelected, "#picker-options")
    def _option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id
        if option_id is not None and option_id.startswith("v"):
            self.dismiss(self._values[int(option_id[1:])])

    def action_move(self, action: str) -> None:
        option_list = self.query_one("#picker-options", OptionList)
        getattr(option_list, f"action_{action}")()

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceScreen(PickerScreen):
    """Pick one of ``options``; returns its value, or None on escape.

    For status, priority, views and the like: ``options`` are (label, value)
    pairs and ``current`` marks (and pre-highlights) the value in effect.
    """

    def __init__(self, title: str, options: Sequence[Choice], current: Any = None) -> None:
        super().__init__(title, [Section(None, options)], current)


def _agent_label(agent: dict[str, Any]) -> str:
    name = str(agent.get("name") or f"agent {agent.get('id')}")
    return f"{name} (disabled)" if agent.get("disabled") else name


class AssignScreen(PickerScreen):
    """Assign a ticket to an agent or a group, or unassign it.

    Returns ``{"agent_id": id}`` or ``{"group_id": id}`` (``None`` ids clear the
    assignment), ready to merge into ``set_ticket`` args; ``None`` on escape.
    Disabled agents are left out unless the ticket is theirs now.
    """

    def __init__(self, agents: Sequence[dict[str, Any]], groups: Sequence[dict[str, Any]],
                 current_agent: int | None, current_group: int | None) -> None:
        agent_choices: list[Choice] = [("Unassign (no agent)", {"agent_id": None})]
        agent_choices += [
            (_agent_label(agent), {"agent_id": agent["id"]}) for agent in agents
            if not agent.get("disabled") or agent["id"] == current_agent
        ]
        group_choices: list[Choice] = [("No group", {"group_id": None})]
        group_choices += [
            (str(group.get("name") or f"group {group['id']}"), {"group_id": group["id"]})
            for group in groups
        ]
        super().__init__(
            "Assign to",
            [Section("Agents", agent_choices), Section("Groups", group_choices)],
        )
        self._current_agent = current_agent
        self._current_group = current_group

    def _is_current(self, value: Any) -> bool:
        if "agent_id" in value:
            return bool(value["agent_id"] == self._current_agent)
        return bool(value["group_id"] == self._current_group)


def parse_tags(text: str) -> tuple[list[str], list[str]]:
    """Read comma-separated tags; return (tags, problems in words).

    Tags are trimmed with inner whitespace collapsed, empty pieces (a trailing
    comma) are skipped, and a tag repeated in another case is kept once, as
    first written, so "VIP" and "vip" never become two tags.
    """
    tags: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    for piece in text.split(","):
        tag = re.sub(r"\s+", " ", piece).strip()
        if not tag:
            continue
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in tag):
            problems.append(f"tag {tag!r} contains a control character")
            continue
        if len(tag) > MAX_TAG_LENGTH:
            problems.append(
                f"tag \"{tag[:12]}…\" is {len(tag)} characters long; "
                f"the most a tag may have is {MAX_TAG_LENGTH}"
            )
            continue
        if tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        tags.append(tag)
    return tags, problems


class TagSuggester(Suggester):
    """Completes the tag being typed (the text after the last comma) from known tags.

    Textual's ``SuggestFromList`` completes the whole input value, which only
    ever helps with the first tag of a comma-separated list.
    """

    def __init__(self, known: Sequence[str]) -> None:
        super().__init__(use_cache=True, case_sensitive=True)
        self._known = list(dict.fromkeys(known))

    async def get_suggestion(self, value: str) -> str | None:
        head, comma, last = value.rpartition(",")
        fragment = last.lstrip()
        if not fragment:
            return None
        already = {tag.strip().casefold() for tag in head.split(",")} if comma else set()
        for tag in self._known:
            folded = tag.casefold()
            if folded.startswith(fragment.casefold()) and folded not in already:
                if len(tag) == len(fragment):
                    return None
                # Same length as what was typed, so the Input shows just the missing
                # tail, and accepting it spells the tag as it is already known.
                return value[: len(value) - len(fragment)] + tag
        return None


class TagsScreen(ModalScreen[list[str] | None]):
    """Edit a ticket's tags as one comma-separated line; returns the new list or None."""

    CSS_PATH = "pickers.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, tags: Sequence[str], known: Sequence[str] = ()) -> None:
        super().__init__()
        self._tags = list(tags)
        self._known = [tag for tag in known if tag]

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog"):
            yield Label("Tags", classes="picker-title")
            yield Input(
                value=", ".join(self._tags),
                placeholder="comma-separated, e.g. billing, vip",
                suggester=TagSuggester(self._known),
                # Tags are usually added to, not retyped: start at the end, nothing selected.
                select_on_focus=False,
                id="tags-input",
            )
            yield Static("", id="tags-error", classes="picker-error")
            hint = (
                f"Known: {', '.join(self._known[:20])}" + (" …" if len(self._known) > 20 else "")
                if self._known else "No tags in use yet."
            )
            yield Static(
                f"{hint}\n→ accepts a suggestion, enter saves, esc cancels",
                classes="picker-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#tags-input", Input).focus()

    @on(Input.Changed, "#tags-input")
    def _changed(self) -> None:
        self.query_one("#tags-error", Static).update("")

    @on(Input.Submitted, "#tags-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        tags, problems = parse_tags(event.value)
        if problems:
            self.query_one("#tags-error", Static).update(Text("\n".join(problems)))
            return
        self.dismiss(tags)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPromptScreen(ModalScreen[str | None]):
    """Ask for one line of text (a search, a file path); returns it, or None on escape.

    ``validate`` returns a problem in words, or None when the text is fine; the
    dialog stays open and shows the problem until the agent fixes it.
    """

    CSS_PATH = "pickers.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
    ]

    def __init__(self, title: str, placeholder: str = "", value: str = "",
                 validate: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self._title = title
        self._placeholder = placeholder
        self._value = value
        self._validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog"):
            yield Label(self._title, classes="picker-title", markup=False)
            yield Input(value=self._value, placeholder=self._placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="picker-error")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    @on(Input.Changed, "#prompt-input")
    def _changed(self) -> None:
        self.query_one("#prompt-error", Static).update("")

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self._validate(event.value) if self._validate else None
        if problem:
            self.query_one("#prompt-error", Static).update(Text(problem))
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: y or the yes button gives True; n, esc or the no button False.

    Yes has the focus, so enter confirms: this dialog is a second look, not a trap.
    """

    CSS_PATH = "pickers.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", show=False),
        Binding("n,escape", "answer(False)", "No", show=False),
        Binding("left,right", "app.focus_next", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self._question = question
        self._yes = yes
        self._no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-dialog confirm-dialog"):
            yield Static(Text(self._question), classes="confirm-question")
            with Horizontal(classes="confirm-buttons"):
                yield Button(f"{self._yes} (y)", id="confirm-yes", variant="primary")
                yield Button(f"{self._no} (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
