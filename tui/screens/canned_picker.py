"""The composer's canned-response picker (ctrl+g): shared folders and the agent's own.

The preview shows the response as this customer would get it, placeholders filled
from the open ticket; what has no value here stays as ``{{…}}``, highlighted, and the
composer will not send it until the agent fills it in. The picker answers with what
the agent asked: insert a response, save the draft as a personal one, or delete one
of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual.binding import Binding, BindingType

from core.placeholders import fill
from core.sms import analyze
from tui.screens.preview_picker import PreviewItem, PreviewPicker
from tui.widgets.draft_area import UNFILLED_STYLE

PERSONAL = "My responses"
UNFILED = "Shared"


@dataclass(frozen=True, slots=True)
class CannedChoice:
    """What the agent asked of the picker; ``response`` is None for "save my draft"."""

    action: Literal["insert", "save", "delete"]
    response: Mapping[str, Any] | None = None


def library_items(library: Mapping[str, Any]) -> list[PreviewItem]:
    """The agent's own responses first, then each shared folder's, then the unfiled ones."""
    folders = {folder["id"]: folder["name"] for folder in library.get("folders", [])}
    order = {name: i for i, name in enumerate([PERSONAL, *sorted(folders.values()), UNFILED])}
    items = []
    for response in library.get("responses", []):
        section = PERSONAL if response.get("owner_agent_id") is not None \
            else folders.get(response.get("folder_id"), UNFILED)
        label = response["title"] + (f"  +{len(response['media'])} file"
                                     if response.get("media") else "")
        items.append(PreviewItem(label, response.get("body", ""), section, response))
    return sorted(items, key=lambda item: (order.get(item.section, 99), item.label.casefold()))


def filled_preview(body: str, values: Mapping[str, str]) -> Text:
    """The body as sent to this customer, each placeholder without a value highlighted."""
    filled = fill(body, values)
    text = Text(filled.text)
    for missing in filled.missing:
        text.stylize(UNFILLED_STYLE, missing.start, missing.end)
    return text


class CannedPicker(PreviewPicker):
    """Pick a canned response for the open ticket's reply; the preview is filled for it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "save_draft", "Save draft as mine", id="canned.save_draft"),
        Binding("ctrl+r", "delete_mine", "Delete mine", id="canned.delete_mine"),
    ]

    def __init__(self, library: Mapping[str, Any], values: Mapping[str, str], *,
                 sms_only: bool, who: str) -> None:
        super().__init__(f"Canned responses (for {who})", library_items(library),
                         empty="No canned responses yet. Admins add shared ones (Admin, 6);"
                               " ctrl+n keeps your draft as your own.",
                         hint="enter inserts · ctrl+n saves your draft as yours · ctrl+r "
                              "deletes one of yours · esc cancels")
        self.values = dict(values)
        self.sms_only = sms_only

    def preview(self, value: Any) -> Text:
        response: Mapping[str, Any] = value
        filled = fill(response.get("body", ""), self.values)
        cost = analyze(filled.text)
        text = Text.assemble((response["title"], "bold"), "\n\n",
                             filled_preview(response.get("body", ""), self.values), "\n\n",
                             (f"{cost.encoding} · {cost.characters} characters · "
                              f"{cost.segments} segment{'s' if cost.segments != 1 else ''}",
                              "dim"))
        for missing in dict.fromkeys(p.name for p in filled.missing):
            text.append(f"\nNo value for {{{{{missing}}}}} here: fill it in before sending.",
                        style="bold")
        for media in _media(response):
            text.append(f"\n+ {media.get('filename') or media.get('sha256', '')[:12]}"
                        f" · {media.get('content_type')}")
        if _media(response) and self.sms_only:
            text.append("\nThis ticket's number is SMS-only: the attachments cannot go;"
                        " the text still inserts.", style="bold")
        return text

    def choose(self, value: Any) -> None:
        self.dismiss(CannedChoice("insert", value))

    def action_save_draft(self) -> None:
        self.dismiss(CannedChoice("save"))

    def action_delete_mine(self) -> None:
        response = self.highlighted
        if response is None or response.get("owner_agent_id") is None:
            self.notify("Only your own responses can be deleted here; shared ones are the"
                        " admins' (Admin, 6).", severity="warning")
            return
        self.dismiss(CannedChoice("delete", response))


def _media(response: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return response.get("media") or []
