"""Opt-out keywords, as Twilio's default Advanced Opt-Out handles them.

Twilio itself answers STOP/START/HELP on long codes and toll-free numbers and
blocks further messages to an opted-out number with error 21610. The inbox
mirrors that state so an agent sees it before trying to reply, per business
number: a STOP sent to one of the desk's numbers blocks that number only.
"""

from __future__ import annotations

import json
from enum import Enum

from core.db import Conn
from core.dialect import SQLITE, Dialect, dialect_of


class Keyword(Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def normalized(body: str) -> str:
    """A body as keyword matching sees it: spaces collapsed, upper case, no final . or !"""
    return " ".join(body.upper().strip().rstrip(".!").split())


def keyword_in(body: str) -> Keyword | None:
    """The keyword a message is, if the whole message is one.

    Twilio matches the entire body, trimmed and case-insensitive; "please stop
    texting me" is a message for an agent, not an opt-out.
    """
    word = normalized(body)
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


# --- whether a customer may be texted from a number ----------------------------------------
#
# Twilio applies a STOP to the sender it was sent to (a number, or the Messaging Service it
# belongs to), and a person with two phones says STOP from one of them, so the desk judges
# opt-out per (customer phone, business number): the newest change of that phone for that
# number, or one made for every number (number_id NULL: an admin's, say), decides. A phone
# with no recorded change at all keeps its own flag (rows written before changes were
# recorded per phone and number).

def _state_sql(phone: str, number: str) -> str:
    """SQL for 1/0: whether ``phone`` (an SQL expression) is opted out from ``number``.

    Its tables' aliases are prefixed ``optout_`` so an outer query's names are not shadowed.
    """
    return (
        "coalesce((SELECT optout_o.opted_out FROM opt_out_changes optout_o WHERE optout_o.phone"
        f" = {phone} AND (optout_o.number_id = {number} OR optout_o.number_id IS NULL)"
        " ORDER BY optout_o.id DESC LIMIT 1), CASE WHEN EXISTS (SELECT 1 FROM opt_out_changes"
        f" optout_e WHERE optout_e.phone = {phone}) THEN 0 ELSE (SELECT optout_p.opted_out"
        f" FROM contact_phones optout_p WHERE optout_p.e164 = {phone}) END, 0)"
    )


def opted_out_sql(phone: str, number: str) -> str:
    """SQL for 1/0: whether ``phone`` may not be texted from ``number`` (SQL expressions),
    for a query that reads it alongside other things (one statement, not two)."""
    return _state_sql(phone, number)


def opted_out_numbers_sql(phone: str, dialect: Dialect = SQLITE) -> str:
    """SQL for a JSON array of the ids of the numbers ``phone`` is opted out from (text)."""
    return (f"(SELECT {dialect.json_ids_agg('optout_n.id')} FROM phone_numbers optout_n"
            f" WHERE {_state_sql(phone, 'optout_n.id')} = 1)")


def opted_out_from(conn: Conn, phone: str, number_id: int) -> bool:
    """Whether the customer's phone may not be texted from this business number."""
    row = conn.execute(f"SELECT {_state_sql('?1', '?2')}", (phone, number_id)).fetchone()
    return bool(row[0])


def opted_out_number_ids(conn: Conn, phone: str) -> list[int]:
    """The business numbers the customer's phone is opted out from, by id."""
    row = conn.execute(f"SELECT {opted_out_numbers_sql('?1', dialect_of(conn))}",
                       (phone,)).fetchone()
    return sorted(json.loads(row[0]))
