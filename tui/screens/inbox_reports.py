"""R: the Reports screen (tui/screens/reports.py), over the inbox.

R opens the reports everywhere; retrying a failed reply moved to F
(tui/screens/inbox_retry.py), since one key meaning "send this text again" on some rows
and "show figures" on others would resend a text to a customer by mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.screens.reports import ReportsScreen

if TYPE_CHECKING:
    from tui.screens.inbox import InboxScreen


class ReportActions:
    """The inbox's reports key; mixed into InboxScreen."""

    def action_reports(self: InboxScreen) -> None:
        self.app.push_screen(ReportsScreen(self.client))
