"""Relay settings that must be the same for every relay on one database.

A setting several relays may create at once (the media signing secret) is written in one
statement that keeps the first value and then read back in the same transaction, never
read first and written after: two relays starting together would each find it missing
and each sign with its own secret, so one relay's media URLs would fail at the other.
"""

from __future__ import annotations

from core.writes import WriteContext


def setting_or_init(ctx: WriteContext, key: str, value: str) -> str:
    """The setting ``key``: the stored value, or ``value`` if there was none (then stored).

    Returns the value that won, whoever wrote it first.
    """
    ctx.conn.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (key, value),
    )
    row = ctx.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return str(row[0])
