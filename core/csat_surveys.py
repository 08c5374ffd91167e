"""The surveys table read and closed, for the inbound path and the commands.

Why apart from core.csat_writes: core.writes reads an open survey while it routes a
customer's text (a rating must not reopen the ticket) and closes surveys when a ticket
is reopened; this module needs nothing of core.writes, so core.writes can use it
without an import cycle. Sending a survey and recording an answer (which queue texts
through the preflight) are core.csat_writes'.
"""

from __future__ import annotations

from typing import Any

from core.csat import OPEN_STATES, Answer, Survey, SurveyState, answer_to
from core.db import Conn

# The newest rating of the ticket ``t`` by the index csat_open, for list rows.
LATEST_RATING_SQL = (
    "(SELECT s.rating FROM csat_surveys s WHERE s.ticket_id = t.id"
    " AND s.rating IS NOT NULL ORDER BY s.id DESC LIMIT 1)"
)

_OPEN_MARKS = ", ".join("?" * len(OPEN_STATES))


def survey_from_row(row: Any) -> Survey:
    return Survey(
        id=row["id"], ticket_id=row["ticket_id"], number_id=row["number_id"],
        agent_id=row["agent_id"], group_id=row["group_id"], message_id=row["message_id"],
        sent_at=row["sent_at"], expires_at=row["expires_at"], rating=row["rating"],
        rated_at=row["rated_at"], comment=row["comment"], state=SurveyState(row["state"]),
    )


def survey_by_id(conn: Conn, survey_id: int) -> Survey:
    return survey_from_row(conn.execute("SELECT * FROM csat_surveys WHERE id = ?",
                                        (survey_id,)).fetchone())


def latest_survey(conn: Conn, ticket_id: int) -> Survey | None:
    row = conn.execute("SELECT * FROM csat_surveys WHERE ticket_id = ? ORDER BY id DESC"
                       " LIMIT 1", (ticket_id,)).fetchone()
    return None if row is None else survey_from_row(row)


def surveys_of(conn: Conn, ticket_id: int) -> list[Survey]:
    """Every survey of a ticket, oldest first (one per resolution that sent one)."""
    rows = conn.execute("SELECT * FROM csat_surveys WHERE ticket_id = ? ORDER BY id",
                        (ticket_id,)).fetchall()
    return [survey_from_row(row) for row in rows]


def latest_rating(conn: Conn, ticket_id: int) -> int | None:
    row = conn.execute(f"SELECT {LATEST_RATING_SQL} FROM tickets t WHERE t.id = ?",
                       (ticket_id,)).fetchone()
    return None if row is None else row[0]


def answer_for(conn: Conn, ticket_id: int, body: str, now: int) -> Answer | None:
    """What a customer's text to a resolved ticket is to its survey, if it is one.

    Only the ticket's newest survey counts: an earlier one belongs to an earlier
    resolution, closed when the ticket was reopened.
    """
    survey = latest_survey(conn, ticket_id)
    return None if survey is None else answer_to(survey, body, now)


def close_on_reopen(conn: Conn, ticket_id: int) -> None:
    """The ticket stopped being resolved: its survey takes no more answers. One never
    answered has expired; one rated keeps its rating (and the comment, if it came)."""
    conn.execute(
        "UPDATE csat_surveys SET state = CASE state WHEN 'sent' THEN 'expired' ELSE 'done' END"
        f" WHERE ticket_id = ? AND state IN ({_OPEN_MARKS})",
        (ticket_id, *(s.value for s in OPEN_STATES)))
