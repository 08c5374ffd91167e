"""A modal that asks for a file path and closes only on an answer it accepts (or escape).

Attaching a file to a reply and saving one from the thread ask the same way: a title, one
path input, the refusal in words beneath it, and a line of help. Only what makes a typed
path acceptable differs, so subclasses implement ``judge`` and keep their own escape
binding (its id belongs to their screen's keymap).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

__all__ = ["PathDialog", "PathRefused"]

Answer = TypeVar("Answer")


class PathRefused(ValueError):
    """The typed path cannot be used; the message says why in words."""


class PathDialog(ModalScreen[Answer | None], Generic[Answer]):
    """Asks for a path; ``judge`` turns the typed text into the answer or refuses it."""

    DEFAULT_CSS = """
    PathDialog { align: center middle; background: $background 60%; }
    PathDialog > Vertical {
        width: 72; max-width: 90%; height: auto; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    PathDialog .path-error { color: $error; }
    PathDialog .path-help { color: $text-muted; }
    """

    def __init__(self, title: str, *, prefix: str, help_line: str, value: str = "",
                 placeholder: str = "") -> None:
        """``prefix`` names the widgets (``<prefix>-path``, ``<prefix>-error``…)."""
        super().__init__()
        self._title = title
        self._prefix = prefix
        self._help_line = help_line
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), id=f"{self._prefix}-title")
            yield Input(value=self._value, placeholder=self._placeholder,
                        id=f"{self._prefix}-path")
            yield Static("", id=f"{self._prefix}-error", classes="path-error")
            yield Static(self._help_line, id=f"{self._prefix}-help", classes="path-help")

    def judge(self, typed: str) -> Answer:
        """The answer ``typed`` gives, or PathRefused with the reason."""
        raise NotImplementedError

    def refuse(self, reason: str) -> None:
        """Say under the input why the path was not taken; the dialog stays open."""
        self.query_one(f"#{self._prefix}-error", Static).update(Content(reason))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            answer = self.judge(event.value)
        except PathRefused as why:
            self.refuse(str(why))
            return
        self.dismiss(answer)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
