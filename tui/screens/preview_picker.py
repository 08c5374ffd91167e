"""A fuzzy picker with a preview: the canned-response and scenario pickers share it.

Type to filter (fuzzy, over each item's words, not just its title), up/down move,
enter chooses, escape cancels; the pane beside the list shows the highlighted item
in full, so the agent knows what it does before choosing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.pickers import PickerScreen


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """One choice: its label, the words the filter searches, its section, what it stands for."""

    label: str
    words: str
    section: str
    value: Any


class PreviewPicker(ModalScreen[Any]):
    """Sections of items, filtered fuzzily; ``preview`` draws the highlighted one."""

    CSS_PATH = "preview_picker.tcss"
    # The list pickers' keys: escape cancels, the arrows and pages move in the list.
    BINDINGS: ClassVar[list[BindingType]] = list(PickerScreen.BINDINGS)

    def __init__(self, title: str, items: Sequence[PreviewItem], *, empty: str,
                 hint: str) -> None:
        super().__init__()
        self._title = title
        self.items = list(items)
        self._empty = empty
        self._hint = hint
        self._shown: list[PreviewItem] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="preview-dialog"):
            yield Label(self._title, classes="preview-title", markup=False)
            yield Input(placeholder="type to filter", id="preview-filter")
            with Horizontal(classes="preview-body"):
                options = OptionList(id="preview-options")
                options.can_focus = False  # the filter keeps the keyboard
                yield options
                with VerticalScroll(id="preview-pane"):
                    yield Static(id="preview-text")
            yield Static(Text(self._hint), classes="preview-hint")

    def on_mount(self) -> None:
        self.refill("")
        self.query_one("#preview-filter", Input).focus()

    def preview(self, value: Any) -> Text:
        """The highlighted item in full; subclasses say what that is."""
        raise NotImplementedError

    @property
    def highlighted(self) -> Any | None:
        """The value under the cursor, or None when nothing matches."""
        index = self.query_one("#preview-options", OptionList).highlighted
        option = None if index is None else \
            self.query_one("#preview-options", OptionList).get_option_at_index(index)
        if option is None or option.id is None:
            return None
        return self._shown[int(option.id[1:])].value

    def refill(self, query: str) -> None:
        """Matches grouped by section, the best first in each; sections in their first order."""
        matcher = Matcher(query) if query.strip() else None
        by_section: dict[str, list[tuple[float, PreviewItem]]] = {}
        for order, item in enumerate(self.items):
            score = matcher.match(f"{item.label} {item.words}") if matcher else -order
            if matcher is None or score > 0:
                by_section.setdefault(item.section, []).append((score, item))
        options: list[Option | None] = []
        self._shown = []
        for section, scored in by_section.items():
            if options:
                options.append(None)
            options.append(Option(Text(section, style="bold"), disabled=True))
            for _, item in sorted(scored, key=lambda pair: -pair[0]):
                options.append(Option(Text("  " + item.label), id=f"v{len(self._shown)}"))
                self._shown.append(item)
        if not self._shown:
            options = [Option(Text(self._empty if not self.items else "nothing matches",
                                   style="italic"), disabled=True)]
        option_list = self.query_one("#preview-options", OptionList)
        option_list.set_options(options)
        option_list.action_first()
        self._show_preview()

    def _show_preview(self) -> None:
        value = self.highlighted
        self.query_one("#preview-text", Static).update(
            self.preview(value) if value is not None else Text(""))

    @on(Input.Changed, "#preview-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.refill(event.value)

    @on(Input.Submitted, "#preview-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self.highlighted
        if value is not None:
            self.choose(value)

    @on(OptionList.OptionHighlighted, "#preview-options")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_preview()

    @on(OptionList.OptionSelected, "#preview-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.choose(self._shown[int(event.option.id[1:])].value)

    def choose(self, value: Any) -> None:
        """Enter on an item: by default the picker answers with its value."""
        self.dismiss(value)

    def action_move(self, action: str) -> None:
        getattr(self.query_one("#preview-options", OptionList), f"action_{action}")()
        self._show_preview()

    def action_cancel(self) -> None:
        self.dismiss(None)
