"""Full-text queries: what an agent typed, made safe for FTS5, and run without surprises.

PostgreSQL's tsquery form of the same words is core.dialect's; both keep the words ``TERM``
finds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from core.db import database_errors

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


def run_match(conn: Any, sql: str, params: Sequence[Any]) -> Any:
    """Run a full-text query; a term the backend's tokenizer cannot take matches nothing.

    ``fts_query`` already keeps to letters and digits, but Python and SQLite
    disagree on a handful of rare code points; an agent who types one gets no
    results rather than an error. (PostgreSQL's tsquery is quoted word by word, so
    its parser should never refuse one; "syntax error" covers it if it does.)
    """
    try:
        return conn.execute(sql, params)
    except database_errors() as error:
        if "fts5" in str(error) or "syntax error" in str(error):
            return []
        raise
