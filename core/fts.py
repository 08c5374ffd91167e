"""Full-text queries: what an agent typed, made safe for FTS5, and run without surprises."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

# Letters and digits only: "_" and a few other code points are word characters
# to Python but separators to SQLite's tokenizer, and a quoted term that the
# tokenizer splits becomes a phrase, which a detail=none index cannot answer.
TERM = re.compile(r"([^\W_]+)(\*?)", re.UNICODE)


def fts_query(text: str) -> str | None:
    """Turn what an agent typed into a safe FTS5 query, or None when there is no word.

    Every word must appear. A word ending in ``*`` matches as a prefix; others
    match whole words only, because FTS5 answers a prefix by merging the
    postings of every term that starts with it, which for a common prefix over
    a million messages costs tens of milliseconds where a whole word costs one.
    """
    terms = []
    for match in TERM.finditer(text):
        word, star = match.group(1), match.group(2)
        terms.append(f'"{word}"*' if star else f'"{word}"')
    return " ".join(terms) or None


def run_match(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any]
) -> sqlite3.Cursor | list[Any]:
    """Run a MATCH query; a term SQLite's tokenizer cannot take matches nothing.

    ``fts_query`` already keeps to letters and digits, but Python and SQLite
    disagree on a handful of rare code points; an agent who types one gets no
    results rather than an error.
    """
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as error:
        if "fts5" in str(error) or "syntax error" in str(error):
            return []
        raise
