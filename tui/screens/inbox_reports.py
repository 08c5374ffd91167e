"""R: the Reports screen (tui/screens/reports.py), over the inbox.

R also retries a failed reply (tui/screens/inbox_retry.py). That binding comes
first and works only where the highlighted ticket's newest reply failed (the
footer then says "R Retry failed"); everywhere else R opens the reports.
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
