"""The composer's text area: a canned response's unfilled ``{{placeholders}}`` stand out.

An agent must see at a glance what is left to fill before the reply can go (the send is
refused until then, by the same core.placeholders rule the relay applies).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import TextArea

from core.placeholders import unfilled

UNFILLED_STYLE = Style(bold=True, reverse=True)


class DraftArea(TextArea):
    """A TextArea whose lines mark each known placeholder still in the text."""

    def get_line(self, line_index: int) -> Text:
        """Textual's documented hook for styling a line's content (see ``TextArea.get_line``)."""
        line = super().get_line(line_index)
        for found in unfilled(line.plain):
            line.stylize(UNFILLED_STYLE, found.start, found.end)
        return line
