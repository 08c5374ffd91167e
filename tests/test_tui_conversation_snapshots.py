"""The From picker and the new-conversation screen, pinned as SVG snapshots on the canned
inbox of test_tui_snapshots (fixed data, fixed clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from desk_harness import until
from test_tui_snapshots import (  # noqa: F401  (frozen_time: the pinned clock, autouse)
    PNG,
    SIZE,
    frozen_time,
    inbox_app,
    listed,
    opened,
    type_text,
)
from textual.pilot import Pilot
from textual.widgets import Input

from tui.screens.from_picker import FromPicker
from tui.screens.new_conversation import NewConversationScreen
from tui.widgets.composer import AttachFile

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def test_from_picker_with_a_photo_attached(snap_compare: Any, tmp_path: Path) -> None:
    """Maya texted the MMS toll-free number; the UK long code is SMS-only: it cannot carry
    the photo, and the picker says so on its line."""
    app = inbox_app()
    photo = tmp_path / "label.png"
    photo.write_bytes(PNG)

    async def before(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("r")
        await type_text(pilot, "Here is your return label")
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, AttachFile), "the attach dialog")
        app.screen.query_one(Input).value = str(photo)
        await pilot.press("enter")
        await until(pilot, lambda: app.inbox.composer.attachments, "the photo attached")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FromPicker), "the From picker")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_new_conversation_screen(snap_compare: Any) -> None:
    app = inbox_app()

    async def before(pilot: Pilot[Any]) -> None:
        await listed(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, NewConversationScreen), "the screen")
        screen = app.screen
        assert isinstance(screen, NewConversationScreen)
        await type_text(pilot, "07400 123456")  # a customer the inbox knows, unnamed
        await until(pilot, lambda: screen.to == "+447400123456", "the number understood")
        await pilot.press("enter")
        await type_text(pilot, "Hello, your refund is on its way.")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
