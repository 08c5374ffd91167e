"""The From picker: which of the desk's numbers a reply (or a new conversation) goes out from.

Each number carries its verdict for this customer and this draft (tui.senders), so the
agent sees why a number cannot reach them before choosing it; the best one is suggested.
Returns the chosen number's id, or None on escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from tui.screens.pickers import Choice, PickerScreen, Section
from tui.senders import SenderVerdict


class FromPicker(PickerScreen):
    """Pick the sender among judged numbers; the current sender is marked ●."""

    CSS_PATH: ClassVar[list[str]] = ["pickers.tcss", "from_picker.tcss"]  # type: ignore[misc]

    def __init__(self, verdicts: Sequence[SenderVerdict], *, current_id: int, default_id: int,
                 who: str) -> None:
        can: list[Choice] = []
        cannot: list[Choice] = []
        ranked = sorted(verdicts, key=lambda v: (not v.suggested, v.number_id))
        for verdict in ranked:
            (can if verdict.can_send else cannot).append(
                (verdict.label(default_id=default_id), verdict.number_id))
        sections = [Section(f"Can reach {who}", can)] if can else []
        if cannot:
            sections.append(Section(f"Cannot reach {who} with this draft", cannot))
        super().__init__(f"Send from… (to {who})", sections, current_id)
        self.verdicts = list(verdicts)
