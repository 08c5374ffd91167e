"""Schema 17's reports tables, and the recount that fills them from the rows already there.

The DDL is per dialect (core.schema runs SQLITE_17, core.schema_pg runs PG_17); the
backfill is one portable script both run after it, so a desk migrated to 17 holds the
same counters as one that kept them live from the start (tests/test_reports_counts.py
holds the two together). It is also what a recount is: ``RECOUNT`` clears the counters
and runs the same statements.

What the rows can say, and so what the backfill counts:

* a ticket created, at its ``created_at``, on the channel of its first message;
* each message in and out at its ``created_at`` (out: on the number it was sent from),
  the segments of each text sent, and each failed delivery at its last change, by code;
* a resolution per ticket resolved now (its ``resolved_at``): a ticket resolved, reopened
  and resolved again counts once here, twice in the live counters;
* each survey sent and each rating (the latest), at ``sent_at`` / ``rated_at``;
* SLA met or breached against today's targets for the ticket's priority.

The dimensions are the ticket's as it stands (the live counters keep the ticket's at the
time of each write; they differ only for tickets moved since).
"""

from __future__ import annotations

# --- the tables ---------------------------------------------------------------------------

SQLITE_DDL = """
ALTER TABLE phone_numbers ADD COLUMN segment_price TEXT;
ALTER TABLE phone_numbers ADD COLUMN price_currency TEXT NOT NULL DEFAULT 'USD';
ALTER TABLE tickets ADD COLUMN first_response_ms INTEGER;
ALTER TABLE tickets ADD COLUMN resolution_ms INTEGER;
CREATE INDEX tickets_first_response ON tickets(first_response_ms, first_responded_at,
    number_id, group_id, agent_id, last_channel) WHERE first_response_ms IS NOT NULL;
CREATE INDEX tickets_resolution ON tickets(resolution_ms, resolved_at,
    number_id, group_id, agent_id, last_channel) WHERE resolution_ms IS NOT NULL;
CREATE TABLE report_counts (
    metric    TEXT    NOT NULL,
    scope     TEXT    NOT NULL,
    key       TEXT    NOT NULL,
    number_id INTEGER NOT NULL,
    channel   TEXT    NOT NULL,
    hour_of_day INTEGER NOT NULL,
    hour      INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (metric, scope, key, number_id, channel, hour_of_day, hour)
) WITHOUT ROWID;
"""

# The key INCLUDEs n: a report's seeks read each count from the index alone (an index-only
# scan) rather than a heap page per row (SQLite's WITHOUT ROWID table is stored in its key
# already).
PG_DDL = """
ALTER TABLE phone_numbers
    ADD COLUMN segment_price  text,
    ADD COLUMN price_currency text NOT NULL DEFAULT 'USD';
ALTER TABLE tickets
    ADD COLUMN first_response_ms bigint,
    ADD COLUMN resolution_ms     bigint;
CREATE INDEX tickets_first_response ON tickets(first_response_ms, first_responded_at,
    number_id, group_id, agent_id, last_channel) WHERE first_response_ms IS NOT NULL;
CREATE INDEX tickets_resolution ON tickets(resolution_ms, resolved_at,
    number_id, group_id, agent_id, last_channel) WHERE resolution_ms IS NOT NULL;
CREATE TABLE report_counts (
    metric    text   COLLATE "C" NOT NULL,
    scope     text   COLLATE "C" NOT NULL,
    key       text   COLLATE "C" NOT NULL,
    number_id bigint NOT NULL,
    channel   text   COLLATE "C" NOT NULL,
    hour_of_day bigint NOT NULL,
    hour      bigint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (metric, scope, key, number_id, channel, hour_of_day, hour) INCLUDE (n)
);
"""

# --- the backfill (portable SQL: the same on both) ------------------------------------------

_CHANNEL = "CASE e.channel WHEN 'email' THEN 'email' ELSE 'sms' END"
_TICKET_DIMS = "t.number_id, coalesce(t.group_id, 0), coalesce(t.agent_id, 0)"
# A resolution counts under the channel of the ticket's last message then.
_RESOLVED_CHANNEL = (f"coalesce((SELECT {_CHANNEL} FROM entries e WHERE e.ticket_id = t.id"
                     " AND e.kind = 'message' AND e.created_at <= t.resolved_at"
                     " ORDER BY e.id DESC LIMIT 1), t.last_channel)")

CLOCKS = """
UPDATE tickets SET first_responded_at = (
    SELECT min(e.created_at) FROM entries e
    WHERE e.ticket_id = tickets.id AND e.kind = 'message' AND e.direction = 'outbound'
    AND e.author_agent_id IS NOT NULL)
    WHERE first_responded_at IS NULL;
UPDATE tickets SET resolved_at = updated_at
    WHERE resolved_at IS NULL AND status IN ('resolved', 'closed');
UPDATE tickets SET first_response_ms = first_responded_at - created_at
    WHERE first_response_ms IS NULL AND first_responded_at IS NOT NULL;
UPDATE tickets SET resolution_ms = CASE WHEN sla_used > 0 THEN sla_used
                                        ELSE resolved_at - created_at END
    WHERE resolution_ms IS NULL AND resolved_at IS NOT NULL;
"""

# Each fact under each scope and bucket, as core.report_counts.add files it.
_SCOPED = "\n    UNION ALL\n".join(
    f"    SELECT metric, '{scope}{suffix}' AS scope, {key} AS key, {number} AS number_id,"
    f" {channel} AS channel, {of_day} AS hour_of_day, {bucket} AS hour, n FROM facts"
    for scope, key, number, channel in (
        ("channel", "channel", "0", "channel"),
        ("all", "''", "number_id", "channel"),
        ("group", "CAST(group_id AS TEXT)", "number_id", "channel"),
        ("agent", "CAST(agent_id AS TEXT) || ':' || CAST(group_id AS TEXT)", "number_id",
         "channel"))
    for suffix, of_day, bucket in (("", "hour % 24", "hour"), (".d", "0", "hour - hour % 24")))

COUNTERS = f"""
WITH facts AS (
    SELECT 'created' AS metric, t.created_at / 3600000 AS hour, t.number_id AS number_id,
        coalesce(t.group_id, 0) AS group_id, coalesce(t.agent_id, 0) AS agent_id,
        coalesce((SELECT {_CHANNEL} FROM entries e
                  WHERE e.ticket_id = t.id AND e.kind = 'message'
                  ORDER BY e.id LIMIT 1), 'sms') AS channel, 1 AS n
        FROM tickets t
    UNION ALL
    SELECT e.direction, e.created_at / 3600000,
        CASE e.direction WHEN 'outbound' THEN coalesce(e.from_number_id, t.number_id)
                         ELSE t.number_id END,
        coalesce(t.group_id, 0), coalesce(t.agent_id, 0), {_CHANNEL}, 1
        FROM entries e JOIN tickets t ON t.id = e.ticket_id WHERE e.kind = 'message'
    UNION ALL
    SELECT 'segments', e.created_at / 3600000, coalesce(e.from_number_id, t.number_id),
        coalesce(t.group_id, 0), coalesce(t.agent_id, 0), 'sms', e.segments
        FROM entries e JOIN tickets t ON t.id = e.ticket_id
        WHERE e.kind = 'message' AND e.direction = 'outbound' AND e.channel <> 'email'
    UNION ALL
    SELECT 'failed:' || coalesce(e.error_code, 0), e.updated_at / 3600000,
        coalesce(e.from_number_id, t.number_id),
        coalesce(t.group_id, 0), coalesce(t.agent_id, 0), {_CHANNEL}, 1
        FROM entries e JOIN tickets t ON t.id = e.ticket_id
        WHERE e.kind = 'message' AND e.direction = 'outbound'
        AND e.status IN ('failed', 'undelivered')
    UNION ALL
    SELECT 'resolved', t.resolved_at / 3600000, {_TICKET_DIMS}, {_RESOLVED_CHANNEL}, 1
        FROM tickets t WHERE t.resolved_at IS NOT NULL
    UNION ALL
    SELECT 'csat_sent', s.sent_at / 3600000, s.number_id, coalesce(s.group_id, 0),
        coalesce(s.agent_id, 0), 'sms', 1
        FROM csat_surveys s
    UNION ALL
    SELECT 'csat_rated', s.rated_at / 3600000, s.number_id, coalesce(s.group_id, 0),
        coalesce(s.agent_id, 0), 'sms', 1
        FROM csat_surveys s WHERE s.rating IS NOT NULL
    UNION ALL
    SELECT 'csat:' || s.rating, s.rated_at / 3600000, s.number_id, coalesce(s.group_id, 0),
        coalesce(s.agent_id, 0), 'sms', 1
        FROM csat_surveys s WHERE s.rating IS NOT NULL
    UNION ALL
    SELECT CASE WHEN t.first_response_ms <= g.first_response THEN 'fr_met'
                ELSE 'fr_breached' END,
        t.first_responded_at / 3600000, {_TICKET_DIMS},
        coalesce((SELECT {_CHANNEL} FROM entries e
                  WHERE e.ticket_id = t.id AND e.kind = 'message' AND e.direction = 'outbound'
                  AND e.author_agent_id IS NOT NULL ORDER BY e.id LIMIT 1), 'sms'), 1
        FROM tickets t JOIN sla_targets g ON g.priority = t.priority
        WHERE t.first_response_ms IS NOT NULL AND g.first_response IS NOT NULL
    UNION ALL
    SELECT CASE WHEN t.resolution_ms <= g.resolution THEN 'res_met' ELSE 'res_breached' END,
        t.resolved_at / 3600000, {_TICKET_DIMS}, {_RESOLVED_CHANNEL}, 1
        FROM tickets t JOIN sla_targets g ON g.priority = t.priority
        WHERE t.resolved_at IS NOT NULL AND t.resolution_ms IS NOT NULL
        AND g.resolution IS NOT NULL
)
INSERT INTO report_counts(metric, scope, key, number_id, channel, hour_of_day, hour, n)
SELECT metric, scope, key, number_id, channel, hour_of_day, hour, sum(n) FROM (
{_SCOPED}
) AS scoped
GROUP BY metric, scope, key, number_id, channel, hour_of_day, hour;
"""

BACKFILL = CLOCKS + COUNTERS

# Schema 17 as each dialect's migration runs it.
SQLITE_17 = SQLITE_DDL + BACKFILL
PG_17 = PG_DDL + BACKFILL

# Counting everything again from the rows (tests; an admin's repair).
RECOUNT = "DELETE FROM report_counts;\n" + COUNTERS


def statements(script: str) -> list[str]:
    """The script's statements, one each, for a connection that runs one at a time."""
    return [part.strip() for part in script.split(";\n") if part.strip()]
