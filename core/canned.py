"""Canned responses: ready replies with placeholders, shared in folders or kept personal.

Shared responses (no owner) and their folders are the admins' to change; a personal one
(an owner agent) is its owner's alone, and no one else sees it. The admin check runs in
the write's own transaction, so an agent demoted since the command was sent is refused.
Every change is a ``canned.updated`` event that says *what* changed and whose it is, never
a personal response's words: other inboxes list their responses again when it concerns them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import records
from core.db import Conn
from core.dialect import dialect_of
from core.models import Media
from core.preflight import (
    MAX_BODY_CHARS,
    MAX_MEDIA,
    MAX_MEDIA_TOTAL_BYTES,
    is_accepted_media_type,
)
from core.writes import (
    Conflict,
    Forbidden,
    NotFound,
    StoreError,
    WriteContext,
    agent_by_id,
    require_agent_may_act,
)

MAX_TITLE_CHARS = 100
MAX_FOLDER_NAME_CHARS = 60
MAX_FILENAME_CHARS = 255


@dataclass(frozen=True, slots=True)
class CannedFolder:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class CannedResponse:
    id: int
    title: str
    body: str
    folder_id: int | None = None
    owner_agent_id: int | None = None  # None: shared; else personal to this agent
    media: tuple[Media, ...] = ()
    updated_at: int = 0

    @property
    def personal(self) -> bool:
        return self.owner_agent_id is not None


def _response_from_row(row: sqlite3.Row) -> CannedResponse:
    return CannedResponse(id=row["id"], title=row["title"], body=row["body"],
                          folder_id=row["folder_id"], owner_agent_id=row["owner_agent_id"],
                          media=records.media_from_json(row["media"]),
                          updated_at=row["updated_at"])


# --- reading --------------------------------------------------------------------------


def library_for(conn: Conn, agent_id: int) -> dict[str, Any]:
    """What one agent may use: every folder, the shared responses and their own personal ones."""
    folders = [CannedFolder(row["id"], row["name"])
               for row in conn.execute("SELECT id, name FROM canned_folders ORDER BY name")]
    rows = conn.execute(
        "SELECT * FROM canned_responses WHERE owner_agent_id IS NULL OR owner_agent_id = ?"
        " ORDER BY title COLLATE NOCASE, id", (agent_id,))
    return {"folders": records.to_wire(folders),
            "responses": records.to_wire([_response_from_row(row) for row in rows])}


def response_by_id(conn: Conn, response_id: int) -> CannedResponse:
    row = conn.execute("SELECT * FROM canned_responses WHERE id = ?",
                       (response_id,)).fetchone()
    if row is None:
        raise NotFound(f"canned response {response_id} does not exist")
    return _response_from_row(row)


def usable_by(conn: Conn, response_id: int, agent_id: int) -> CannedResponse:
    """A response this agent may send: shared, or their own (another's personal one is not)."""
    response = response_by_id(conn, response_id)
    if response.owner_agent_id not in (None, agent_id):
        raise NotFound(f"canned response {response_id} does not exist")
    return response


# --- checking -------------------------------------------------------------------------


def check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise StoreError("a canned response needs a title")
    if len(title) > MAX_TITLE_CHARS:
        raise StoreError(f"a title is at most {MAX_TITLE_CHARS} characters")
    return title


def check_body(body: str, media: Sequence[Media]) -> str:
    if not body.strip() and not media:
        raise StoreError("a canned response needs some text or an attachment")
    if len(body) > MAX_BODY_CHARS:
        raise StoreError(f"a canned response is at most {MAX_BODY_CHARS:,} characters "
                         f"(Twilio's limit per message); this one is {len(body):,}")
    return body


def check_media(media: Sequence[Media]) -> tuple[Media, ...]:
    """Attachments as a reply may carry them: Twilio's types, count and total size."""
    if len(media) > MAX_MEDIA:
        raise StoreError(f"at most {MAX_MEDIA} attachments per message")
    for item in media:
        if len(item.filename) > MAX_FILENAME_CHARS:
            raise StoreError(f"a file's name is at most {MAX_FILENAME_CHARS} characters")
        if not is_accepted_media_type(item.content_type):
            raise StoreError(f"Twilio does not accept {item.content_type} for MMS")
    if sum(item.size for item in media) > MAX_MEDIA_TOTAL_BYTES:
        raise StoreError("an MMS can carry at most 5 MB of attachments")
    return tuple(media)


def _require_owner_or_admin(ctx: WriteContext, agent_id: int, owner_agent_id: int | None) -> None:
    """Shared responses are the admins' (checked in this transaction); personal: the owner's."""
    if owner_agent_id is None:
        require_agent_may_act(ctx.conn, agent_id, admin=True)
    elif owner_agent_id != agent_id:
        raise Forbidden("only its owner may change a personal canned response")


def _require_folder(conn: Conn, folder_id: int | None) -> None:
    if folder_id is not None and conn.execute(
            "SELECT 1 FROM canned_folders WHERE id = ?", (folder_id,)).fetchone() is None:
        raise NotFound(f"canned folder {folder_id} does not exist")


# --- writing --------------------------------------------------------------------------


def save_response(ctx: WriteContext, *, agent_id: int, response_id: int | None, title: str,
                  body: str, folder_id: int | None, personal: bool,
                  media: Sequence[Media] = ()) -> CannedResponse:
    """Create (no ``response_id``) or replace a response; ``personal`` makes it the agent's own.

    A personal response keeps no folder: folders are the shared library's.
    """
    agent_by_id(ctx.conn, agent_id)
    owner = agent_id if personal else None
    if response_id is not None:
        current = response_by_id(ctx.conn, response_id)
        _require_owner_or_admin(ctx, agent_id, current.owner_agent_id)
        if current.owner_agent_id != owner:
            raise Conflict("a response stays shared or personal; save a new one instead")
    _require_owner_or_admin(ctx, agent_id, owner)
    media = check_media(media)
    values = (check_title(title), check_body(body, media), None if personal else folder_id,
              owner, records.media_to_json(media), ctx.now)
    if not personal:
        _require_folder(ctx.conn, folder_id)
    if response_id is None:
        response_id = ctx.conn.execute(
            "INSERT INTO canned_responses(title, body, folder_id, owner_agent_id, media,"
            " updated_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (*values, ctx.now)).fetchone()[0]
    else:
        ctx.conn.execute(
            "UPDATE canned_responses SET title = ?, body = ?, folder_id = ?,"
            " owner_agent_id = ?, media = ?, updated_at = ? WHERE id = ?",
            (*values, response_id))
    _tell(ctx, response_id=response_id, owner_agent_id=owner)
    return response_by_id(ctx.conn, response_id)


def delete_response(ctx: WriteContext, *, agent_id: int, response_id: int) -> dict[str, Any]:
    current = response_by_id(ctx.conn, response_id)
    _require_owner_or_admin(ctx, agent_id, current.owner_agent_id)
    dialect = dialect_of(ctx.conn)
    used = ctx.conn.execute(
        "SELECT name FROM scenarios WHERE EXISTS (SELECT 1 FROM"
        f" {dialect.json_elements('scenarios.actions', 'action')}"
        f" WHERE {dialect.json_get('action.value', 'canned')} = {dialect.json_param()})"
        " ORDER BY name", (response_id,)).fetchall()
    if used:
        raise StoreError(f"the scenario {', '.join(row['name'] for row in used)} sends it:"
                         " change the scenario first")
    ctx.conn.execute("DELETE FROM canned_responses WHERE id = ?", (response_id,))
    _tell(ctx, response_id=response_id, owner_agent_id=current.owner_agent_id, deleted=True)
    return {"deleted": response_id}


def save_folder(ctx: WriteContext, *, folder_id: int | None, name: str) -> CannedFolder:
    """Create or rename a shared folder (the relay lets only admins send this)."""
    name = name.strip()
    if not name or len(name) > MAX_FOLDER_NAME_CHARS:
        raise StoreError(f"a folder's name is 1-{MAX_FOLDER_NAME_CHARS} characters")
    taken = ctx.conn.execute("SELECT id FROM canned_folders WHERE name = ? COLLATE NOCASE",
                             (name,)).fetchone()
    if taken is not None and taken["id"] != folder_id:
        raise Conflict(f"there is already a folder called {name}")
    if folder_id is None:
        folder_id = ctx.conn.execute(
            "INSERT INTO canned_folders(name, created_at) VALUES (?, ?) RETURNING id",
            (name, ctx.now)).fetchone()[0]
    else:
        _require_folder(ctx.conn, folder_id)
        ctx.conn.execute("UPDATE canned_folders SET name = ? WHERE id = ?", (name, folder_id))
    _tell(ctx, folder_id=folder_id)
    return CannedFolder(folder_id, name)


def delete_folder(ctx: WriteContext, *, folder_id: int) -> dict[str, Any]:
    """Delete an empty folder; one still holding responses is refused, so none is lost."""
    _require_folder(ctx.conn, folder_id)
    held = ctx.conn.execute("SELECT count(*) FROM canned_responses WHERE folder_id = ?",
                            (folder_id,)).fetchone()[0]
    if held:
        raise StoreError(f"the folder still holds {held} response{'s' if held != 1 else ''}:"
                         " move or delete them first")
    ctx.conn.execute("DELETE FROM canned_folders WHERE id = ?", (folder_id,))
    _tell(ctx, folder_id=folder_id, deleted=True)
    return {"deleted": folder_id}


def _tell(ctx: WriteContext, *, response_id: int | None = None, folder_id: int | None = None,
          owner_agent_id: int | None = None, deleted: bool = False) -> None:
    """Which response or folder changed, and whose: the words stay out of the shared log."""
    ctx.emit("canned.updated", None, {"response_id": response_id, "folder_id": folder_id,
                                      "owner_agent_id": owner_agent_id, "deleted": deleted})
