"""The inbox's part in canned responses: the library, the picker, and inserting a choice.

The library (shared responses plus the agent's own) is fetched when the picker first
opens and dropped whenever a ``canned.updated`` event concerns this agent, so the next
picker is fresh without reloading the inbox. Placeholders are filled here, from what
the inbox knows of the open ticket (the relay fills them the same way for scenarios).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work

from core.placeholders import fill, values_for
from tui.client import CommandError
from tui.screens.canned_picker import CannedChoice, CannedPicker
from tui.screens.pickers import ConfirmScreen, TextPromptScreen
from tui.widgets.composer import ComposeContext, Composer, Draft, PendingFile


def default_title(body: str) -> str:
    """The draft's first words, cut at a word (the agent edits it before saving)."""
    line = body.strip().split("\n")[0]
    if len(line) <= 40:
        return line
    cut = line[:40].rsplit(" ", 1)[0]
    return cut or line[:40]


class CannedActions:
    """Mixed into InboxScreen: ctrl+g in the composer, and the events that refresh it.

    It uses the screen's ``command``, ``client``, ``open_row``, ``composer`` and ``notify``.
    """

    canned_library: dict[str, Any] | None = None

    def on_composer_canned_wanted(self, message: Composer.CannedWanted) -> None:
        message.stop()
        self.open_canned(message.context, message.draft)

    def canned_changed(self, payload: dict[str, Any]) -> None:
        """A response or folder changed: forget the library if this agent can see it."""
        owner = payload.get("owner_agent_id")
        if owner is None or owner == (self.client.agent or {}).get("id"):
            self.canned_library = None

    async def canned(self) -> dict[str, Any]:
        if self.canned_library is None:
            self.canned_library = await self.command("list_canned")
        return self.canned_library

    def placeholder_values(self, context: ComposeContext) -> dict[str, str]:
        """What ``{{…}}`` stands for in a reply to the open ticket, by this agent."""
        ticket = (self.open_row or {}).get("ticket") or {}
        agent = self.client.agent or {}
        return values_for(contact_name=context.contact.name, agent_name=str(agent.get("name", "")),
                          ticket_id=context.ticket_id, business_number=context.number.e164,
                          custom_fields=ticket.get("custom_fields") or {})

    @work(group="canned")
    async def open_canned(self, context: ComposeContext, draft: Draft) -> None:
        try:
            library = await self.canned()
        except CommandError as error:
            self.notify(str(error), title="Could not load canned responses",
                        severity="error")
            return
        values = self.placeholder_values(context)
        picker = CannedPicker(library, values, sms_only=not context.number.mms,
                              who=context.contact.name or context.contact.phone)
        choice: CannedChoice | None = await self.app.push_screen_wait(picker)
        composer: Composer = self.composer
        if choice is None:
            composer.start(composer.mode)  # back to the draft, as it was
        elif choice.action == "insert" and choice.response is not None:
            response = choice.response
            media = tuple(PendingFile(Path(), str(m.get("filename", "")),
                                      str(m["content_type"]), int(m["size"]), str(m["sha256"]))
                          for m in response.get("media") or [])
            composer.insert_canned(fill(response["body"], values).text, media)
        elif choice.action == "save":
            await self._save_draft_as_mine(draft)
        elif choice.response is not None:
            await self._delete_mine(choice.response)

    async def _save_draft_as_mine(self, draft: Draft) -> None:
        if not draft.body.strip():
            self.notify("Type the reply first: ctrl+n keeps the draft as your own canned"
                        " response.", severity="warning")
            return
        title = await self.app.push_screen_wait(
            TextPromptScreen("Save the draft as your canned response", "title",
                             value=default_title(draft.body),
                             validate=lambda t: None if 0 < len(t.strip()) <= 100
                             else "A title is 1-100 characters."))
        if title is None:
            return
        await self._canned_command(f"Saved “{title.strip()}” to your responses.",
                                   "save_canned", title=title, body=draft.body, personal=True)

    async def _delete_mine(self, response: dict[str, Any]) -> None:
        if await self.app.push_screen_wait(
                ConfirmScreen(f"Delete your response “{response['title']}”?")):
            await self._canned_command(f"Deleted “{response['title']}”.", "delete_canned",
                                       response_id=response["id"])

    async def _canned_command(self, done: str, name: str, **args: Any) -> None:
        try:
            await self.command(name, **args)
        except CommandError as error:
            self.notify(str(error), title="Not saved", severity="error")
            return
        self.canned_library = None
        self.notify(done, timeout=3)
