"""Which media files the desk still needs: the sha256s its messages, held texts and canned
responses name.

Media files are kept once per sha256 (server/media.py), so two messages, on two tickets,
may share one file. A file may be removed only when nothing names it any more: after a
purge committed, the relay sweeps the files this module does not list. Any new table that
keeps media (canned responses, say) must be added to ``_KEEPERS`` so its files stay.
"""

from __future__ import annotations

from core.db import Conn
from core.dialect import dialect_of

# (table, column holding a JSON list of media, each an object with its "sha256")
_KEEPERS: tuple[tuple[str, str], ...] = (
    ("entries", "media"), ("held_texts", "media"), ("canned_responses", "media"),
    ("entries", "mail_original"))  # an email's full original (NULL for texts: skipped)


def referenced_digests(conn: Conn) -> set[str]:
    """Every sha256 any message, held text or canned response names (one pass over the rows
    with media)."""
    dialect = dialect_of(conn)
    found: set[str] = set()
    for table, column in _KEEPERS:
        rows = conn.execute(
            f"SELECT DISTINCT {dialect.json_text('item.value', 'sha256')} FROM {table},"
            f" {dialect.json_elements(f'{table}.{column}', 'item')}"
            f" WHERE {table}.{column} != '[]' AND {dialect.json_valid(f'{table}.{column}')}")
        found.update(row[0] for row in rows if isinstance(row[0], str))
    return found
