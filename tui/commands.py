"""The command palette (ctrl+p): every inbox action by name, and ticket search.

Why: an agent who forgot a key finds the action by typing what it does; and
typing words that are no action searches the tickets for them.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.screens.inbox import InboxScreen


class InboxCommands(Provider):
    """Actions of the inbox screen, plus "Search tickets for …"."""

    def _inbox(self) -> InboxScreen | None:
        from tui.screens.inbox import InboxScreen

        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def _actions(self) -> list[tuple[str, str, str]]:
        """(title, action, keys) for every inbox binding, in the keys now in effect."""
        inbox = self._inbox()
        if inbox is None:
            return []
        found = []
        for binding in inbox.BINDINGS:
            if not hasattr(binding, "action"):
                continue
            keys = self.app.get_key_display(binding)
            found.append((binding.description or binding.action, binding.action, keys))
        return found

    async def discover(self) -> Hits:
        inbox = self._inbox()
        if inbox is None:
            return
        for title, action, keys in self._actions():
            yield DiscoveryHit(title, partial(inbox.run_action, action), help=f"key: {keys}")

    async def search(self, query: str) -> Hits:
        inbox = self._inbox()
        if inbox is None:
            return
        matcher = self.matcher(query)
        for title, action, keys in self._actions():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(inbox.run_action, action),
                          help=f"key: {keys}")
        words = query.strip()
        if words:
            yield Hit(0.01, f"Search tickets for “{words}”",
                      partial(inbox._search_chosen, words),
                      help="messages and notes, newest first")
