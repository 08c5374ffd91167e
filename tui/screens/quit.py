"""Quitting with work the relay has not got yet: wait, keep it as drafts, or lose it knowingly.

Why a question and not a quiet exit: while the relay is away the inbox promises
that what the agent does is sent when it is back. Quitting would break that
promise without a word, so it asks, and says exactly what would be lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from tui.client import Unsent
from tui.drafts import KeptDraft

QuitChoice = Literal["wait", "keep", "quit"]


@dataclass
class UnsentWork:
    """What quitting now would drop: replies and notes (as text), and other actions."""

    typed: list[KeptDraft] = field(default_factory=list)  # in the composer, never sent
    sending: list[KeptDraft] = field(default_factory=list)  # sent, no answer from the relay
    actions: list[Unsent] = field(default_factory=list)  # status, tags, assignment...

    def __bool__(self) -> bool:
        return bool(self.typed or self.sending or self.actions)

    @property
    def can_wait(self) -> bool:
        """Waiting only helps what is on its way; typed text never leaves by itself."""
        return bool(self.sending or self.actions)

    def lines(self) -> list[str]:
        """Each item as the agent would name it."""
        return ([f"• {_draft_words(d, 'not sent yet')}" for d in self.sending]
                + [f"• {describe(a)}, not sent yet" for a in self.actions]
                + [f"• {_draft_words(d, 'typed, never sent')}" for d in self.typed])


def describe(command: Unsent) -> str:
    """A queued command in an agent's words: "status → resolved on #12"."""
    ticket = command.args.get("ticket_id")
    where = f" on #{ticket}" if ticket is not None else ""
    if command.name == "set_ticket":
        changes = ", ".join(f"{key} → {_value(value)}" for key, value in command.args.items()
                            if key != "ticket_id")
        return f"{changes or 'a change'}{where}"
    return f"{command.name.replace('_', ' ')}{where}"


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def _draft_words(draft: KeptDraft, state: str) -> str:
    preview = " ".join(draft.body.split())
    preview = preview if len(preview) <= 40 else preview[:39] + "…"
    return f"{draft.mode} on #{draft.ticket_id} “{preview}”, {state}"


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Asks before quitting drops work; escape stays in the inbox."""

    CSS_PATH = "quit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "choose('wait')", "Wait, then quit", id="quit.wait"),
        Binding("d", "choose('keep')", "Keep as drafts", id="quit.keep_drafts"),
        Binding("q", "choose('quit')", "Quit anyway", id="quit.anyway"),
        Binding("escape", "stay", "Stay", id="quit.stay"),
    ]

    def __init__(self, work: UnsentWork) -> None:
        super().__init__()
        self.work = work

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog"):
            yield Label("Quit with work the relay has not got?", id="quit-title")
            yield Static("\n".join(self.work.lines()), id="quit-items", markup=False)
            yield Static(self._choices(), id="quit-choices", markup=False)
        yield Footer()

    def _choices(self) -> str:
        """What each choice does; the footer shows their keys (after the agent's keymap)."""
        lines = []
        if self.work.can_wait:
            lines.append("Wait: quit once the relay has it all (it is offline or busy now).")
        lines.append("Keep as drafts: the replies and notes come back in the composer when "
                     "you next open their tickets"
                     + (" (the other changes above are lost)." if self.work.actions else "."))
        lost = len(self.work.typed) + len(self.work.sending) + len(self.work.actions)
        lines.append(f"Quit anyway: the {lost} item{'' if lost == 1 else 's'} above "
                     f"{'is' if lost == 1 else 'are'} lost.")
        return "\n".join(lines)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose" and parameters == ("wait",):
            return self.work.can_wait
        return True

    def action_choose(self, choice: QuitChoice) -> None:
        self.dismiss(choice)

    def action_stay(self) -> None:
        self.dismiss(None)
