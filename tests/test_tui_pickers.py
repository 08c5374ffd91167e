"""The inbox's small dialogs: each returns a value through dismiss, or None on escape."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Static

from tui.screens.pickers import (
    AssignScreen,
    ChoiceScreen,
    ConfirmScreen,
    TagsScreen,
    TagSuggester,
    TextPromptScreen,
    matches,
    parse_tags,
)

_NOTHING = object()


class Host(App[None]):
    """Pushes one dialog and records what it is dismissed with."""

    def __init__(self, dialog: Screen[Any]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


async def run(dialog: Screen[Any], *keys: str) -> tuple[Any, list[str]]:
    """Press ``keys`` in the dialog; return its result (or _NOTHING if still open) and
    the labels its option list shows at the end (empty for dialogs without a list)."""
    app = Host(dialog)
    async with app.run_test(size=(90, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        assert (app.screen is dialog) is (not app.results)
        shown = labels(dialog) if dialog.query(OptionList) else []
        return (app.results[0] if app.results else _NOTHING), shown


def labels(screen: Screen[Any]) -> list[str]:
    option_list = screen.query_one(OptionList)
    return [str(option.prompt) for option in option_list.options]


def highlighted(screen: Screen[Any]) -> str:
    option = screen.query_one(OptionList).highlighted_option
    assert option is not None
    return str(option.prompt)


STATUSES = [("Open", "open"), ("Pending", "pending"), ("Resolved", "resolved"),
            ("Closed", "closed")]


# ---------------------------------------------------------------- ChoiceScreen


async def test_choice_enter_picks_the_current_value_first() -> None:
    result, _ = await run(ChoiceScreen("Status", STATUSES, current="resolved"), "enter")
    assert result == "resolved"


async def test_choice_arrows_move_and_enter_picks() -> None:
    result, _ = await run(ChoiceScreen("Status", STATUSES, current="open"),
                          "down", "down", "up", "down", "enter")
    assert result == "resolved"


async def test_choice_escape_cancels() -> None:
    result, _ = await run(ChoiceScreen("Status", STATUSES, current="open"), "down", "escape")
    assert result is None


async def test_choice_without_current_highlights_the_first() -> None:
    result, _ = await run(ChoiceScreen("Priority", [("Low", 1), ("High", 3)]), "enter")
    assert result == 1


async def test_choice_filter_narrows_and_enter_picks_the_first_match() -> None:
    dialog = ChoiceScreen("Status", STATUSES, current="open")
    app = Host(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert labels(dialog) == ["● Open", "  Pending", "  Resolved", "  Closed"]
        assert highlighted(dialog) == "● Open"
        await pilot.press("e", "d")
        assert labels(dialog) == ["  Resolved", "  Closed"]
        assert highlighted(dialog) == "  Resolved"
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.results == ["closed"]


async def test_choice_filter_with_no_match_does_nothing_on_enter() -> None:
    result, shown = await run(ChoiceScreen("Status", STATUSES), "x", "y", "z", "enter")
    assert result is _NOTHING
    assert shown == ["nothing matches"]


async def test_choice_values_may_be_any_object() -> None:
    view = {"status": ["open"], "unread": True}
    result, _ = await run(ChoiceScreen("View", [("All", {}), ("Unread open", view)]),
                          "u", "n", "enter")
    assert result == view


def test_matches_needs_every_word_in_any_case() -> None:
    assert matches("", "Anything")
    assert matches("by st", "By status: Pending")
    assert not matches("by group", "By status: Pending")


# ---------------------------------------------------------------- AssignScreen

AGENTS = [
    {"id": 1, "name": "Ada", "role": "agent", "group_ids": [1], "disabled": False},
    {"id": 2, "name": "Grace", "role": "admin", "group_ids": [], "disabled": False},
    {"id": 3, "name": "Old Timer", "role": "agent", "group_ids": [], "disabled": True},
]
GROUPS = [{"id": 1, "name": "Billing"}, {"id": 2, "name": "Shipping"}]


async def test_assign_lists_sections_and_marks_the_current_assignment() -> None:
    result, shown = await run(AssignScreen(AGENTS, GROUPS, current_agent=2, current_group=1))
    assert result is _NOTHING
    assert shown == [
        "Agents", "  Unassign (no agent)", "  Ada", "● Grace",
        "Groups", "  No group", "● Billing", "  Shipping",
    ]


async def test_assign_enter_on_current_agent_returns_it() -> None:
    result, _ = await run(AssignScreen(AGENTS, GROUPS, 2, None), "enter")
    assert result == {"agent_id": 2}


async def test_assign_arrows_skip_section_titles() -> None:
    result, _ = await run(AssignScreen(AGENTS, GROUPS, 2, None), "down", "enter")
    assert result == {"group_id": None}
    result, _ = await run(AssignScreen(AGENTS, GROUPS, 2, None), "down", "down", "enter")
    assert result == {"group_id": 1}
    # Up from the first agent choice wraps around rather than landing on a title.
    result, _ = await run(AssignScreen(AGENTS, GROUPS, None, None), "up", "enter")
    assert result == {"group_id": 2}


async def test_assign_filter_finds_a_group() -> None:
    result, _ = await run(AssignScreen(AGENTS, GROUPS, None, None), *"ship", "enter")
    assert result == {"group_id": 2}


async def test_assign_filter_by_section_title() -> None:
    result, shown = await run(AssignScreen(AGENTS, GROUPS, None, None), *"groups bil")
    assert result is _NOTHING
    assert shown == ["Groups", "  Billing"]


async def test_assign_unassign_returns_none_id() -> None:
    result, _ = await run(AssignScreen(AGENTS, GROUPS, 1, 1), *"unassign", "enter")
    assert result == {"agent_id": None}


async def test_assign_shows_a_disabled_agent_only_when_current() -> None:
    _, shown = await run(AssignScreen(AGENTS, GROUPS, current_agent=3, current_group=None))
    assert "● Old Timer (disabled)" in shown
    _, shown = await run(AssignScreen(AGENTS, GROUPS, current_agent=1, current_group=None))
    assert not any("Old Timer" in label for label in shown)


async def test_assign_escape_cancels() -> None:
    result, _ = await run(AssignScreen(AGENTS, GROUPS, 1, 1), "escape")
    assert result is None


# ---------------------------------------------------------------- TagsScreen


@pytest.mark.parametrize(("text", "tags"), [
    ("", []),
    ("billing", ["billing"]),
    ("  billing ,vip,  ", ["billing", "vip"]),
    ("VIP, vip, Vip, other", ["VIP", "other"]),
    ("late   delivery", ["late delivery"]),
    (",,,", []),
    ("x" * 32, ["x" * 32]),
])
def test_parse_tags_cleans_up(text: str, tags: list[str]) -> None:
    assert parse_tags(text) == (tags, [])


def test_parse_tags_explains_problems() -> None:
    tags, problems = parse_tags("ok, " + "a" * 33 + ", bad\x07bell")
    assert tags == ["ok"]
    assert problems == [
        'tag "aaaaaaaaaaaa…" is 33 characters long; the most a tag may have is 32',
        "tag 'bad\\x07bell' contains a control character",
    ]


async def test_tags_enter_returns_the_cleaned_list() -> None:
    result, _ = await run(TagsScreen(["billing"]), *", VIP, vip ", "enter")
    assert result == ["billing", "VIP"]


async def test_tags_can_be_cleared() -> None:
    dialog = TagsScreen(["billing", "vip"])
    result, _ = await run(dialog, "ctrl+u", "enter")  # ctrl+u deletes to the line start
    assert result == []


async def test_tags_too_long_is_shown_in_words_and_keeps_the_dialog() -> None:
    dialog = TagsScreen([])
    app = Host(dialog)
    async with app.run_test(size=(90, 30)) as pilot:
        await pilot.pause()
        dialog.query_one(Input).insert_text_at_cursor("y" * 40)  # as a paste would
        await pilot.press("enter")
        error = str(dialog.query_one("#tags-error", Static).render())
        assert "is 40 characters long; the most a tag may have is 32" in error
        assert app.screen is dialog and app.results == []
        # Typing again clears the complaint; a fixed value is accepted.
        await pilot.press("ctrl+u")
        assert str(dialog.query_one("#tags-error", Static).render()) == ""
        await pilot.press(*"short", "enter")
        await pilot.pause()
        assert app.results == [["short"]]


async def test_tags_escape_cancels() -> None:
    result, _ = await run(TagsScreen(["a"]), "b", "escape")
    assert result is None


async def test_tags_suggest_a_known_tag_for_the_last_piece() -> None:
    dialog = TagsScreen(["vip"], known=["billing", "Shipping", "vip"])
    app = Host(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press(*", SHI")
        await pilot.pause()
        await pilot.press("right")  # accepts the suggestion at the end of the line
        assert dialog.query_one(Input).value == "vip, Shipping"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [["vip", "Shipping"]]


@pytest.mark.parametrize(("value", "suggestion"), [
    ("bi", "billing"),
    ("vip, bi", "vip, billing"),
    ("vip,BI", "vip,billing"),
    ("billing, b", None),  # already there; nothing else starts with b
    ("billing", None),  # complete already
    ("vip, ", None),
    ("zz", None),
])
async def test_tag_suggester(value: str, suggestion: str | None) -> None:
    assert await TagSuggester(["billing", "vip"]).get_suggestion(value) == suggestion


# ---------------------------------------------------------------- TextPromptScreen


def no_spaces(value: str) -> str | None:
    return "a path without spaces, please" if " " in value else None


async def test_prompt_returns_the_text() -> None:
    result, _ = await run(TextPromptScreen("Search", "words"), *"late parcel", "enter")
    assert result == "late parcel"


async def test_prompt_starts_with_the_given_value() -> None:
    # The old text starts selected: typing replaces it, moving the cursor keeps it.
    result, _ = await run(TextPromptScreen("Search", value="refund"), *"late", "enter")
    assert result == "late"
    result, _ = await run(TextPromptScreen("Search", value="refund"), "end", *" due", "enter")
    assert result == "refund due"


async def test_prompt_validation_is_shown_and_keeps_the_dialog() -> None:
    dialog = TextPromptScreen("Attach file", "path", validate=no_spaces)
    app = Host(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press(*"a b", "enter")
        error = str(dialog.query_one("#prompt-error", Static).render())
        assert error == "a path without spaces, please"
        assert app.screen is dialog
        await pilot.press("backspace", "backspace", "enter")
        await pilot.pause()
        assert app.results == ["a"]


async def test_prompt_escape_cancels() -> None:
    result, _ = await run(TextPromptScreen("Search"), "x", "escape")
    assert result is None


# ---------------------------------------------------------------- ConfirmScreen


@pytest.mark.parametrize(("keys", "answer"), [
    (("y",), True),
    (("enter",), True),
    (("n",), False),
    (("escape",), False),
    (("right", "enter"), False),
    (("tab", "tab", "enter"), True),
])
async def test_confirm_keys(keys: tuple[str, ...], answer: bool) -> None:
    result, _ = await run(ConfirmScreen("Send this text to +1 555 0100?"), *keys)
    assert result is answer


async def test_confirm_buttons_are_labelled_and_clickable() -> None:
    dialog = ConfirmScreen("Send?", yes="Send", no="Keep editing")
    app = Host(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert str(dialog.query_one("#confirm-no", Button).label) == "Keep editing (n)"
        await pilot.click("#confirm-no")
        await pilot.pause()
        assert app.results == [False]


async def test_push_screen_wait_gets_the_value() -> None:
    """The dialogs also work with push_screen_wait from a worker."""
    seen: list[Any] = []

    class WaitHost(App[None]):
        def on_mount(self) -> None:
            self.run_worker(self.ask(), exclusive=True)

        async def ask(self) -> None:
            seen.append(await self.push_screen_wait(ChoiceScreen("P", [("Low", "low")])))

    app = WaitHost()
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    assert seen == ["low"]


async def test_titles_and_labels_are_shown_literally_not_as_markup() -> None:
    dialog = ChoiceScreen("Move [b]to[/b] group", [("[bold]Ops[/]", 1), ("a [link", 2)])
    app = Host(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert labels(dialog) == ["  [bold]Ops[/]", "  a [link"]
        assert str(dialog.query_one(".picker-title", Label).render()) == "Move [b]to[/b] group"
        await pilot.press(*"[link", "enter")
        await pilot.pause()
        assert app.results == [2]
