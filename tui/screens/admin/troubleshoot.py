"""The Troubleshooting tab: the relay's checks, grouped by what they are about, worst marked.

The seed's troubleshooting list ("I cannot send or receive SMS": is the account
connected, the number active, the credit enough, the country allowed...) is
run by the relay against Twilio and its own store (``troubleshoot``); this tab
shows the answers so an admin reads down one list, and fixes what the inbox can
fix by itself: ``f`` does what the highlighted check offers (point that number's
webhooks here, or open the texts held while a number was out of service as
tickets); ``R`` points every number here at once (after the public URL changed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.admin import AdminPane

MARKS = {"ok": ("✓", "green"), "info": ("ⓘ", "blue"), "warning": ("⚠", "yellow"),
         "problem": ("✗", "bold red")}
SCOPE_TITLES = {"relay": "Relay", "account": "Account", "number": "Number"}
SCOPE_ORDER = ("relay", "account", "number")
#: What ``f`` does to a check with this ``action``, as its line says it.
ACTION_HINTS = {"repoint": "point this number at the relay now",
                "open_held": "open them as tickets now"}


def grouped(checks: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Checks by (scope, subject): relay first, then accounts, then numbers, as they came."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for check in checks:
        key = (str(check.get("scope", "")), str(check.get("subject", "")))
        groups.setdefault(key, []).append(check)
    ordered = sorted(groups.items(), key=lambda item: SCOPE_ORDER.index(item[0][0])
                     if item[0][0] in SCOPE_ORDER else len(SCOPE_ORDER))
    return [(f"{SCOPE_TITLES.get(scope, scope.title())}: {subject}".rstrip(": "), items)
            for (scope, subject), items in ordered]


def check_text(check: dict[str, Any]) -> Table:
    """A check as a mark beside up to four lines: title; what was found; what to do; the key.

    A grid, not indented text, so long details wrap under the title, not under the mark.
    """
    mark, style = MARKS.get(str(check.get("level")), ("?", ""))
    body = Text(str(check.get("title", check.get("check", ""))))
    if check.get("detail"):
        body.append(f"\n{check['detail']}", style="dim" if check.get("level") == "ok" else "")
    if check.get("fix") and check.get("level") != "ok":
        body.append(f"\nFix: {check['fix']}", style="italic")
    if check.get("action") in ACTION_HINTS:
        body.append(f"\npress f to {ACTION_HINTS[str(check['action'])]}", style="bold")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=3, justify="right")
    grid.add_column(ratio=1)
    grid.add_row(Text(mark, style=style), body)
    return grid


def summary(result: dict[str, Any]) -> Text:
    counts: dict[str, int] = {}
    for check in result.get("checks") or []:
        counts[str(check.get("level"))] = counts.get(str(check.get("level")), 0) + 1
    text = Text()
    for level, word in (("problem", "problem"), ("warning", "warning"), ("info", "note"),
                        ("ok", "fine")):
        if counts.get(level):
            mark, style = MARKS[level]
            plural = "s" if counts[level] != 1 and level != "ok" else ""
            text.append(f"{mark} {counts[level]} {word}{plural}   ", style=style)
    text.append(f"public URL: {result.get('public_url') or '(not set)'}", style="dim")
    return text


class TroubleshootPane(AdminPane):
    """The checks in one scrolling list; ``r`` runs them again, ``f`` repoints a number."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rerun", "Run checks again", id="admin.rerun_checks"),
        Binding("f", "fix", "Fix this", id="admin.fix"),
        Binding("R", "repoint_all", "Repoint all", id="admin.repoint_all"),
    ]

    def __init__(self, client: Any, *, id: str | None = None) -> None:
        super().__init__(client, id=id)
        self.checks: list[dict[str, Any]] = []
        self.running = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="checks-top"):
            yield Static("Press r to run the checks.", id="checks-summary")
            yield Button("Repoint all numbers (R)", id="repoint-all", compact=True)
        yield OptionList(id="checks")

    @property
    def options(self) -> OptionList:
        return self.query_one("#checks", OptionList)

    def focus_first(self) -> None:
        self.options.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fix":
            return True if self.highlighted_fix() is not None else None  # None: shown dimmed
        return True

    async def reload(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one("#checks-summary", Static).update(Text(
            "Running the checks (the relay asks Twilio and tries its own public URL)…",
            style="italic"))
        try:
            result = await self.call("run the checks", "troubleshoot")
        finally:
            self.running = False
        if result is None:
            self.query_one("#checks-summary", Static).update("The checks could not run.")
            return
        self.loaded = True
        self.show(result)

    def show(self, result: dict[str, Any]) -> None:
        """The checks; the highlight stays on the check it was on when that is still there
        (a re-run must not move the cursor), else goes to the first fix or problem."""
        was = self.highlighted_check()
        self.checks = list(result.get("checks") or [])
        self.query_one("#checks-summary", Static).update(summary(result))
        options: list[Option | None] = []
        first_problem: int | None = None
        first_fix: int | None = None  # what the admin can fix from here comes first
        same: int | None = None
        positions = {id(check): index for index, check in enumerate(self.checks)}
        for index, (title, items) in enumerate(grouped(self.checks)):
            if index:
                options.append(None)
            options.append(Option(Text(title, style="bold"), disabled=True))
            for check in items:
                position = sum(1 for option in options if option is not None)
                if was is not None and check_key(check) == check_key(was):
                    same = position
                if check.get("action") in ACTION_HINTS and first_fix is None:
                    first_fix = position
                if first_problem is None and check.get("level") == "problem":
                    first_problem = position
                options.append(Option(check_text(check), id=f"c{positions[id(check)]}"))
        self.options.set_options(options)
        start = next((p for p in (same, first_fix, first_problem) if p is not None), None)
        if start is not None:
            self.options.highlighted = start
        else:
            self.options.action_first()
        self.screen.refresh_bindings()

    def highlighted_check(self) -> dict[str, Any] | None:
        index = self.options.highlighted
        if index is None:
            return None
        option_id = self.options.get_option_at_index(index).id
        if option_id is None or not option_id.startswith("c"):
            return None
        return self.checks[int(option_id[1:])]

    def highlighted_fix(self) -> dict[str, Any] | None:
        check = self.highlighted_check()
        if check is None or check.get("action") not in ACTION_HINTS \
                or check.get("number_id") is None:
            return None
        return check

    def on_option_list_option_highlighted(self) -> None:
        self.screen.refresh_bindings()

    @work(exclusive=True, group="checks")
    async def action_rerun(self) -> None:
        await self.reload()

    @work(exclusive=True, group="checks")
    async def action_fix(self) -> None:
        """What the check under the cursor offers, whichever it is."""
        check = self.highlighted_fix()
        if check is None:
            self.notify("Nothing to fix here from the inbox; the check says what to do.",
                        timeout=4)
            return
        if check.get("action") == "open_held":
            opened = await self.call(f"open the texts on {check.get('subject')}",
                                     "open_held_texts", number_id=check["number_id"])
            if opened is None:
                return
            count = len(opened.get("opened") or [])
            self.notify(f"{count} held text{'s' if count != 1 else ''} on"
                        f" {check.get('subject')} opened as tickets in the inbox.",
                        title="Texts opened", timeout=5)
        else:
            done = await self.call(f"repoint {check.get('subject')}", "repoint_number",
                                   number_id=check["number_id"])
            if done is None:
                return
            self.notify(f"{check.get('subject')} now sends texts to {done.get('sms_url')}.",
                        title="Webhooks repointed", timeout=5)
        await self.reload()

    @on(Button.Pressed, "#repoint-all")
    def _repoint_all_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_repoint_all()

    @work(exclusive=True, group="checks")
    async def action_repoint_all(self) -> None:
        """Every connected number's webhooks pointed at this relay, then the checks again."""
        done = await self.call("repoint every number", "repoint_all")
        if done is None:
            return
        repointed, failed = done.get("repointed") or [], done.get("failed") or []
        words = f"{len(repointed)} number{'s' if len(repointed) != 1 else ''} now send" \
            " their texts to this relay."
        if failed:
            words += " Not repointed: " + "; ".join(
                f"{f.get('e164')}: {f.get('reason')}" for f in failed)
        self.notify(words, title="Webhooks repointed", severity="warning" if failed
                    else "information", timeout=8)
        await self.reload()


def check_key(check: dict[str, Any]) -> tuple[str, str, str]:
    """What a check is about, the same from one run to the next (its words may change)."""
    return (str(check.get("scope")), str(check.get("subject")), str(check.get("check")))
