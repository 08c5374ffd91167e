"""The CSAT survey of one number (issue 14), opened from the Numbers tab (``enter`` or ``u``).

Why a form and not one key per setting: the survey is a text the customer pays for, its
follow-up another, and the window and the bulk rule decide when either goes out; an admin
writing them wants the cost in view as they type ("GSM-7 · 43/160 · 1 segment", like the
composer) and to save them together. The segment price and its currency (what Reports
multiplies the segments by) sit here too, when the relay has them. Only what changed is
sent, as one ``update_number``; the relay's refusal names its field and is shown under it,
and the form stays open, as typed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Static, TextArea

from core.sms import analyze
from tui.client import CommandError

#: Sends the changes (``update_number`` args without the id); raises CommandError if refused.
Save = Callable[[dict[str, Any]], Awaitable[Any]]

TEXTS = ("csat_text", "csat_followup")
PRICE_FIELDS = ("segment_price", "price_currency")
GENERAL = "general"  # where a refusal that names no field of this form goes


def text_cost(text: str) -> str:
    """What one text costs the customer, as the composer says it:
    ``GSM-7 · 43/160 · 1 segment``, and which characters made it UCS-2."""
    if not text:
        return ""
    cost = analyze(text)
    limit = cost.per_segment_limit * max(cost.segments, 1)
    said = (f"{cost.encoding} · {cost.characters}/{limit} · {cost.segments} segment"
            f"{'' if cost.segments == 1 else 's'}")
    if not cost.is_gsm7:
        said += " · UCS-2 because of: " + " ".join(cost.non_gsm[:8])
    return said


class FormProblem(ValueError):
    """Something the form can tell is wrong before asking the relay (a count not a number)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CsatForm(ModalScreen[bool]):
    """A number's survey settings; dismissed with True once the relay took the changes."""

    CSS_PATH = "number_csat.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False, id="csat_form.cancel"),
        Binding("ctrl+s", "save", "Save", show=False, id="csat_form.save"),
    ]

    def __init__(self, number: dict[str, Any], save: Save) -> None:
        super().__init__()
        self.number = number
        self.save = save
        # A relay from before the price fields (schema 17) has none to offer: none are shown.
        self.priced = "price_currency" in number

    # --- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        number = self.number
        name = f"{number.get('e164', '')} {number.get('friendly_name') or ''}".strip()
        with Vertical(id="csat-dialog"):
            yield Label(f"CSAT survey · {name}", id="csat-title")
            with VerticalScroll(id="csat-rows"):
                yield Checkbox("Text a survey when a ticket is resolved",
                               bool(number.get("csat")), id="f-csat")
                yield from self._row("csat_text", "Survey text",
                                     self._area("csat_text", number.get("csat_text") or ""),
                                     cost=True)
                yield from self._row(
                    "csat_followup", "Follow-up question after a rating (optional; the answer"
                    " is kept as the comment)",
                    self._area("csat_followup", number.get("csat_followup") or ""), cost=True)
                yield from self._row(
                    "csat_window_days", "Answers count as ratings for (days, 1 to 30)",
                    Input(str(number.get("csat_window_days") or 3), id="f-csat_window_days",
                          compact=True))
                yield Checkbox("Also survey tickets resolved in bulk",
                               bool(number.get("csat_bulk")), id="f-csat_bulk")
                if self.priced:
                    with Horizontal(id="price-line"):
                        yield from self._row(
                            "segment_price", "Price per segment (for Reports; empty: not set)",
                            Input(str(number.get("segment_price") or ""), id="f-segment_price",
                                  placeholder="e.g. 0.0079", compact=True))
                        yield from self._row(
                            "price_currency", "Currency",
                            Input(str(number.get("price_currency") or "USD"),
                                  id="f-price_currency", max_length=3, compact=True))
            yield Static("", id="error-general", classes="field-error")
            with Horizontal(id="csat-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="csat-save")
                yield Button("Cancel (esc)", id="csat-cancel")

    def _area(self, key: str, text: str) -> TextArea:
        return TextArea(text, id=f"f-{key}", classes="csat-text", soft_wrap=True, compact=True)

    def _row(self, key: str, label: str, widget: Widget, *, cost: bool = False
             ) -> ComposeResult:
        with Vertical(classes="field-row", id=f"row-{key}"):
            yield Label(label, classes="field-label")
            yield widget
            if cost:
                yield Static("", classes="field-cost", id=f"cost-{key}")
            yield Static("", classes="field-error", id=f"error-{key}")

    def on_mount(self) -> None:
        for key in TEXTS:
            self._recount(key)
        self.query_one("#f-csat_text", TextArea).focus()

    # --- the live count -------------------------------------------------------------

    @on(TextArea.Changed)
    def _text_changed(self, event: TextArea.Changed) -> None:
        key = (event.text_area.id or "").removeprefix("f-")
        if key in TEXTS:
            self._recount(key)

    def _recount(self, key: str) -> None:
        text = self.query_one(f"#f-{key}", TextArea).text
        self.query_one(f"#cost-{key}", Static).update(text_cost(text.strip()))

    # --- what changed ---------------------------------------------------------------

    def _typed(self, key: str) -> str:
        return self.query_one(f"#f-{key}", Input).value.strip()

    def changes(self) -> dict[str, Any]:
        """The settings that differ from the number's, as ``update_number`` takes them."""
        number = self.number
        typed: dict[str, Any] = {
            "csat": self.query_one("#f-csat", Checkbox).value,
            "csat_bulk": self.query_one("#f-csat_bulk", Checkbox).value,
            **{key: self.query_one(f"#f-{key}", TextArea).text.strip() for key in TEXTS},
        }
        days = self._typed("csat_window_days")
        try:
            typed["csat_window_days"] = int(days)
        except ValueError:
            raise FormProblem("csat_window_days",
                              f"type a whole number of days, 1 to 30 (not “{days}”)") from None
        if self.priced:
            typed["segment_price"] = self._typed("segment_price")
            typed["price_currency"] = self._typed("price_currency").upper()
        stored = {**number, "segment_price": number.get("segment_price") or ""}
        return {key: value for key, value in typed.items() if value != stored.get(key)}

    # --- saving -------------------------------------------------------------------

    def _say(self, key: str | None, message: str) -> None:
        target = f"#error-{key}" if key and self.query(f"#error-{key}") else "#error-general"
        shown = self.query_one(target, Static)
        shown.update(f"✗ {message}")
        shown.add_class("shown")
        if target != "#error-general":
            self.query_one(f"#row-{key}").scroll_visible()
            self.query_one(f"#f-{key}").focus()  # where the admin fixes it

    def _clear_errors(self) -> None:
        for shown in self.query(".field-error").results(Static):
            shown.update("")
            shown.remove_class("shown")

    @on(Button.Pressed, "#csat-save")
    def action_save(self) -> None:
        self._clear_errors()
        try:
            changes = self.changes()
        except FormProblem as problem:
            self._say(problem.field, str(problem))
            return
        if not changes:
            self.dismiss(False)
            return

        async def send() -> None:
            try:
                await self.save(changes)
            except CommandError as error:
                self._say(error.field, str(error))
                return
            self.dismiss(True)

        self.run_worker(send(), exclusive=True, group="csat-save")

    @on(Button.Pressed, "#csat-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
