"""Replies and notes an agent chose to keep when quitting, until the ticket is opened again.

Why a file: quitting while the relay is away (or mid-sentence) must not lose what
the agent wrote. The bodies are customers' conversations, so the file is private
(0600 from the first byte) and replaced atomically, like the config file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from tui.config import APP_NAME

FILE_NAME = "drafts.json"


@dataclass(frozen=True, slots=True)
class KeptDraft:
    """What to put back in the composer of ``ticket_id``: a reply or a note."""

    ticket_id: int
    mode: str  # "reply" | "note"
    body: str
    # The command id it was on its way under ("" if it never left the composer). It may
    # have reached the relay before the answer was lost: sent again under the same id,
    # the relay answers from its record instead of sending it a second time.
    command_id: str = ""
    # The desk's number the agent chose to send it from (the From picker); None: the
    # ticket's own. Restored with the draft, so it goes out from the same number.
    from_number_id: int | None = None


def drafts_path(data_dir: Path | None = None) -> Path:
    """The drafts file: in ``data_dir`` when given, else the platform's data directory."""
    return (data_dir or platformdirs.user_data_path(APP_NAME)) / FILE_NAME


def load_drafts(path: Path) -> list[KeptDraft]:
    """Every kept draft; a missing or unreadable file keeps nothing rather than stopping."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    kept = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("ticket_id"), int) \
                and item.get("mode") in ("reply", "note") and isinstance(item.get("body"), str):
            command_id = item.get("command_id")
            sender = item.get("from_number_id")
            kept.append(KeptDraft(item["ticket_id"], item["mode"], item["body"],
                                  command_id if isinstance(command_id, str) else "",
                                  sender if _is_id(sender) else None))
    return kept


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def save_drafts(path: Path, drafts: list[KeptDraft]) -> None:
    """Write ``drafts`` privately and atomically; no drafts removes the file."""
    if not drafts:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps([{"ticket_id": d.ticket_id, "mode": d.mode, "body": d.body,
                        "command_id": d.command_id, "from_number_id": d.from_number_id}
                       for d in drafts],
                      ensure_ascii=False, indent=1)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".drafts-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:  # mkstemp: 0600 already
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def keep_drafts(path: Path, new: list[KeptDraft]) -> None:
    """Add ``new`` to the file (one per ticket and mode: the newest wins)."""
    by_key = {(d.ticket_id, d.mode): d for d in load_drafts(path)}
    for draft in new:
        if draft.body.strip():
            by_key[(draft.ticket_id, draft.mode)] = draft
    save_drafts(path, list(by_key.values()))


def take_drafts(path: Path, ticket_id: int) -> list[KeptDraft]:
    """The kept drafts of ``ticket_id``, removed from the file (they go back to the composer)."""
    every = load_drafts(path)
    mine = [d for d in every if d.ticket_id == ticket_id]
    if mine:
        save_drafts(path, [d for d in every if d.ticket_id != ticket_id])
    return mine
