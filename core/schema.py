"""The database schema and its migrations, keyed on ``PRAGMA user_version``.

Each migration is a script that takes the schema from version N to N+1; a
database is brought up to date by running, in order and in one transaction
each, the scripts it has not seen yet. Never edit a released migration: add
the next one.
"""

from __future__ import annotations

import sqlite3

from core.report_backfill import SQLITE_17

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE accounts (
        id              INTEGER PRIMARY KEY,
        name            TEXT    NOT NULL,
        sid             TEXT    NOT NULL UNIQUE,
        auth_token      TEXT    NOT NULL,
        geo_permissions TEXT    NOT NULL DEFAULT '[]',
        status          TEXT    NOT NULL DEFAULT 'active',
        type            TEXT    NOT NULL DEFAULT 'Full',
        connected       INTEGER NOT NULL DEFAULT 1,
        created_at      INTEGER NOT NULL
    );

    CREATE TABLE agent_groups (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
    );

    CREATE TABLE phone_numbers (
        id               INTEGER PRIMARY KEY,
        account_id       INTEGER NOT NULL REFERENCES accounts(id),
        e164             TEXT    NOT NULL UNIQUE,
        sid              TEXT    NOT NULL DEFAULT '',
        mms              INTEGER NOT NULL DEFAULT 0,
        status           TEXT    NOT NULL DEFAULT 'active',
        sender_type      TEXT    NOT NULL DEFAULT 'long_code',
        country          TEXT    NOT NULL DEFAULT '',
        a2p_registered   INTEGER NOT NULL DEFAULT 0,
        default_group_id INTEGER REFERENCES agent_groups(id),
        csat             INTEGER NOT NULL DEFAULT 0,
        enabled          INTEGER NOT NULL DEFAULT 1,
        friendly_name    TEXT    NOT NULL DEFAULT ''
    );

    CREATE TABLE contacts (
        id         INTEGER PRIMARY KEY,
        phone      TEXT    NOT NULL UNIQUE,
        name       TEXT    NOT NULL DEFAULT '',
        email      TEXT    NOT NULL DEFAULT '',
        opted_out  INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );

    CREATE TABLE opt_out_changes (
        id         INTEGER PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id),
        opted_out  INTEGER NOT NULL,
        source     TEXT    NOT NULL,
        number_id  INTEGER REFERENCES phone_numbers(id),
        at         INTEGER NOT NULL
    );
    CREATE INDEX opt_out_changes_by_contact ON opt_out_changes(contact_id, id);

    CREATE TABLE agents (
        id         INTEGER PRIMARY KEY,
        name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
        role       TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
        token_hash TEXT    NOT NULL UNIQUE,
        disabled   INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );

    CREATE TABLE agent_group_members (
        agent_id INTEGER NOT NULL REFERENCES agents(id),
        group_id INTEGER NOT NULL REFERENCES agent_groups(id),
        PRIMARY KEY (agent_id, group_id)
    ) WITHOUT ROWID;

    CREATE TABLE tickets (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        contact_id      INTEGER NOT NULL REFERENCES contacts(id),
        number_id       INTEGER NOT NULL REFERENCES phone_numbers(id),
        subject         TEXT    NOT NULL DEFAULT '',
        status          TEXT    NOT NULL DEFAULT 'open',
        priority        TEXT    NOT NULL DEFAULT 'low',
        type            TEXT    NOT NULL DEFAULT '',
        group_id        INTEGER REFERENCES agent_groups(id),
        agent_id        INTEGER REFERENCES agents(id),
        tags            TEXT    NOT NULL DEFAULT '[]',
        custom_fields   TEXT    NOT NULL DEFAULT '{}',
        unread          INTEGER NOT NULL DEFAULT 1,
        deleted         INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        last_message_at INTEGER NOT NULL,
        last_preview    TEXT    NOT NULL DEFAULT ''
    );
    -- Keyset pagination: every list view walks one of these newest-first.
    CREATE INDEX tickets_recent    ON tickets(last_message_at DESC, id DESC) WHERE deleted = 0;
    CREATE INDEX tickets_by_status ON tickets(status, last_message_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE INDEX tickets_by_group  ON tickets(group_id, last_message_at DESC, id DESC)
        WHERE deleted = 0;
    CREATE INDEX tickets_by_agent  ON tickets(agent_id, last_message_at DESC, id DESC)
        WHERE deleted = 0;
    -- Threading: the latest ticket of a contact on a number.
    CREATE INDEX tickets_of_contact ON tickets(contact_id, number_id, id DESC);

    -- Messages and private notes share one table so a thread pages as one
    -- ordered sequence and one full-text index covers both.
    CREATE TABLE entries (
        id              INTEGER PRIMARY KEY,
        ticket_id       INTEGER NOT NULL REFERENCES tickets(id),
        kind            TEXT    NOT NULL CHECK (kind IN ('message', 'note')),
        direction       TEXT,
        channel         TEXT,
        body            TEXT    NOT NULL DEFAULT '',
        media           TEXT    NOT NULL DEFAULT '[]',
        author_agent_id INTEGER REFERENCES agents(id),
        twilio_sid      TEXT    UNIQUE,
        status          TEXT,
        error_code      INTEGER,
        segments        INTEGER NOT NULL DEFAULT 0,
        encoding        TEXT    NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX entries_thread ON entries(ticket_id, id);
    CREATE INDEX entries_outbox ON entries(status) WHERE status IN ('queued', 'sending');

    CREATE VIRTUAL TABLE entries_fts USING fts5(
        body, content = 'entries', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2', detail = none
    );
    -- New entries are indexed once per transaction by the writer
    -- (core.writes.index_new_entries): one bulk insert costs a fraction of a
    -- per-row trigger. Changes and deletions are rare and stay triggers.
    CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END;
    CREATE TRIGGER entries_fts_update AFTER UPDATE OF body ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO entries_fts(rowid, body) VALUES (new.id, new.body);
    END;

    CREATE TABLE time_entries (
        id         INTEGER PRIMARY KEY,
        ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
        agent_id   INTEGER NOT NULL REFERENCES agents(id),
        seconds    INTEGER NOT NULL CHECK (seconds > 0),
        note       TEXT    NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL
    );
    CREATE INDEX time_entries_of_ticket ON time_entries(ticket_id, id);

    -- The append-only event log. AUTOINCREMENT: a sequence number is never
    -- reused, even after the newest events are deleted, so resuming is safe.
    CREATE TABLE events (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        at        INTEGER NOT NULL,
        kind      TEXT    NOT NULL,
        ticket_id INTEGER,
        payload   TEXT    NOT NULL
    );
    """,
    # 2: relay settings, and command results so a resent command is answered, not redone
    """
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );

    CREATE TABLE command_results (
        agent_id   INTEGER NOT NULL REFERENCES agents(id),
        command_id TEXT    NOT NULL,
        result     TEXT    NOT NULL,
        at         INTEGER NOT NULL,
        PRIMARY KEY (agent_id, command_id)
    ) WITHOUT ROWID;
    """,
    # 3: failed deliveries by time, for the troubleshooting screen: only the failed few
    # are indexed, so a million messages cost nothing to write and little to ask
    """
    CREATE INDEX entries_failed ON entries(updated_at)
        WHERE kind = 'message' AND direction = 'outbound' AND error_code IS NOT NULL;
    """,
    # 4: status callbacks that came before their message's SID was recorded: kept, since
    # they were acknowledged and Twilio will not send them again (core.writes.record_status)
    """
    CREATE TABLE early_statuses (
        id         INTEGER PRIMARY KEY,
        twilio_sid TEXT    NOT NULL UNIQUE,
        status     TEXT    NOT NULL,
        error_code INTEGER,
        at         INTEGER NOT NULL
    );
    """,
    # 5: what a number's webhooks were before smsdesk pointed them here, so that
    # disconnecting gives them back; a Trial account's verified caller IDs (the only numbers
    # it may text); and texts that arrived on a disabled number or a disconnected account's,
    # kept (never dropped) but not opened as tickets until an admin says so
    """
    ALTER TABLE phone_numbers ADD COLUMN prior_webhooks TEXT;
    ALTER TABLE accounts ADD COLUMN verified_caller_ids TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE held_texts (
        id          INTEGER PRIMARY KEY,
        number_id   INTEGER NOT NULL REFERENCES phone_numbers(id),
        message_sid TEXT    NOT NULL UNIQUE,
        from_phone  TEXT    NOT NULL,
        body        TEXT    NOT NULL DEFAULT '',
        media       TEXT    NOT NULL DEFAULT '[]',
        segments    INTEGER NOT NULL DEFAULT 1,
        reason      TEXT    NOT NULL CHECK (reason IN ('disabled', 'disconnected')),
        received_at INTEGER NOT NULL
    );
    CREATE INDEX held_texts_by_number ON held_texts(number_id, id);
    """,
    # 6: each ticket's newest reply, for the list's failed-delivery flag: without it a
    # ticket with a long thread and no reply walks its whole thread for every list window
    """
    CREATE INDEX entries_replies ON entries(ticket_id, id)
        WHERE kind = 'message' AND direction = 'outbound';
    """,
    # 7: the business number a reply was sent from, when the agent chose another than the
    # ticket's; NULL: the ticket's own. The customer's answer to that number threads back
    # into the ticket (core.writes.record_inbound), found through this index.
    """
    ALTER TABLE entries ADD COLUMN from_number_id INTEGER REFERENCES phone_numbers(id);
    CREATE INDEX entries_from_number ON entries(from_number_id, ticket_id)
        WHERE from_number_id IS NOT NULL;
    """,
    # 8 (issue 10, trash and time): when a ticket went to Trash, so the relay can purge those kept
    # there longer than the admin's retention; the Trash view walks its own partial index
    """
    ALTER TABLE tickets ADD COLUMN deleted_at INTEGER;
    UPDATE tickets SET deleted_at = updated_at WHERE deleted = 1;
    CREATE INDEX tickets_trash ON tickets(last_message_at DESC, id DESC) WHERE deleted = 1;
    CREATE INDEX tickets_trash_age ON tickets(deleted_at) WHERE deleted = 1;
    -- (issue 10, time): an agent's one running timer lives here, so it survives the inbox
    -- quitting; stopping it logs a time entry, which may be billable
    CREATE TABLE running_timers (
        agent_id   INTEGER PRIMARY KEY REFERENCES agents(id),
        ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
        started_at INTEGER NOT NULL
    );
    CREATE INDEX running_timers_of_ticket ON running_timers(ticket_id);
    ALTER TABLE time_entries ADD COLUMN billable INTEGER NOT NULL DEFAULT 0;
    """,
    # 9 (issue 10, contacts): a contact's note; search by a contact's name and email and by
    # tag (core.queries). Only contacts with a name or email and tickets with tags are
    # indexed, so the inbound path, which creates contacts without either and never sets
    # tags, pays nothing.
    """
    ALTER TABLE contacts ADD COLUMN note TEXT NOT NULL DEFAULT '';
    CREATE INDEX contacts_by_email ON contacts(email COLLATE NOCASE) WHERE email != '';

    CREATE VIRTUAL TABLE contacts_fts USING fts5(
        name, content = 'contacts', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2', detail = none,
        prefix = '1 2 3 4 5 6'
    );
    INSERT INTO contacts_fts(rowid, name) SELECT id, name FROM contacts WHERE name != '';
    CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts WHEN new.name != '' BEGIN
        INSERT INTO contacts_fts(rowid, name) VALUES (new.id, new.name);
    END;
    CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name ON contacts BEGIN
        INSERT INTO contacts_fts(contacts_fts, rowid, name)
            SELECT 'delete', old.id, old.name WHERE old.name != '';
        INSERT INTO contacts_fts(rowid, name) SELECT new.id, new.name WHERE new.name != '';
    END;
    CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts WHEN old.name != '' BEGIN
        INSERT INTO contacts_fts(contacts_fts, rowid, name) VALUES ('delete', old.id, old.name);
    END;

    -- A ticket's tags, one row each, with the ticket's last activity copied in so a tag's
    -- tickets are read newest first straight from the index (a busy tag sorts nothing).
    -- Only tagged tickets pay for the copy when a text arrives.
    CREATE TABLE ticket_tags (
        tag             TEXT    NOT NULL COLLATE NOCASE,
        ticket_id       INTEGER NOT NULL REFERENCES tickets(id),
        last_message_at INTEGER NOT NULL,
        PRIMARY KEY (tag, ticket_id)
    ) WITHOUT ROWID;
    CREATE INDEX ticket_tags_of_ticket ON ticket_tags(ticket_id);
    CREATE INDEX ticket_tags_recent ON ticket_tags(tag, last_message_at DESC, ticket_id DESC);
    INSERT OR IGNORE INTO ticket_tags(tag, ticket_id, last_message_at)
        SELECT j.value, t.id, t.last_message_at FROM tickets t, json_each(t.tags) j
        WHERE t.tags != '[]';
    CREATE TRIGGER ticket_tags_insert AFTER INSERT ON tickets WHEN new.tags != '[]' BEGIN
        INSERT OR IGNORE INTO ticket_tags(tag, ticket_id, last_message_at)
            SELECT value, new.id, new.last_message_at FROM json_each(new.tags);
    END;
    CREATE TRIGGER ticket_tags_update AFTER UPDATE OF tags ON tickets BEGIN
        DELETE FROM ticket_tags WHERE ticket_id = old.id;
        INSERT OR IGNORE INTO ticket_tags(tag, ticket_id, last_message_at)
            SELECT value, new.id, new.last_message_at FROM json_each(new.tags);
    END;
    CREATE TRIGGER ticket_tags_activity AFTER UPDATE OF last_message_at ON tickets
        WHEN new.tags != '[]' BEGIN
        UPDATE ticket_tags SET last_message_at = new.last_message_at WHERE ticket_id = new.id;
    END;
    CREATE TRIGGER ticket_tags_delete AFTER DELETE ON tickets BEGIN
        DELETE FROM ticket_tags WHERE ticket_id = old.id;
    END;

    -- A contact may have several phones (merged contacts, a work and a home phone); each
    -- phone belongs to one contact and keeps its own STOP state. contacts.phone stays the
    -- contact's first phone; the trigger gives every new contact its row here.
    CREATE TABLE contact_phones (
        e164       TEXT    PRIMARY KEY,
        contact_id INTEGER NOT NULL REFERENCES contacts(id),
        opted_out  INTEGER NOT NULL DEFAULT 0,
        added_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX contact_phones_of_contact ON contact_phones(contact_id);
    INSERT INTO contact_phones(e164, contact_id, opted_out, added_at)
        SELECT phone, id, opted_out, created_at FROM contacts;
    CREATE TRIGGER contact_phones_first AFTER INSERT ON contacts BEGIN
        INSERT INTO contact_phones(e164, contact_id, opted_out, added_at)
            VALUES (new.phone, new.id, new.opted_out, new.created_at);
    END;
    -- Which of the contact's phones a STOP or START came from (the audit trail).
    ALTER TABLE opt_out_changes ADD COLUMN phone TEXT;
    UPDATE opt_out_changes SET phone = (SELECT phone FROM contacts c WHERE c.id = contact_id);
    -- The number a ticket's conversation is with: replies go there, whatever phones its
    -- contact gains or loses later.
    ALTER TABLE tickets ADD COLUMN customer_phone TEXT NOT NULL DEFAULT '';
    UPDATE tickets SET customer_phone = (SELECT phone FROM contacts c WHERE c.id = contact_id);
    """,
    # 10 (issue 10, ticket fields): the fields an admin defines; a ticket keeps its values by
    # key in tickets.custom_fields, so retiring a field (retired_at) loses nothing. The
    # activity history reads a ticket's events newest first through events_of_ticket.
    """
    CREATE TABLE ticket_fields (
        id                  INTEGER PRIMARY KEY,
        key                 TEXT    NOT NULL UNIQUE,
        label               TEXT    NOT NULL,
        kind                TEXT    NOT NULL CHECK (kind IN ('text', 'paragraph', 'number',
                                    'decimal', 'dropdown', 'checkbox', 'date')),
        choices             TEXT    NOT NULL DEFAULT '[]',
        required_to_resolve INTEGER NOT NULL DEFAULT 0,
        position            INTEGER NOT NULL,
        retired_at          INTEGER,
        created_at          INTEGER NOT NULL
    );
    CREATE INDEX events_of_ticket ON events(ticket_id, seq) WHERE ticket_id IS NOT NULL;
    """,
    # 11 (issue 10, canned responses and scenarios): shared folders of canned responses (an
    # owner agent makes one personal), admin-defined scenarios, and which ticket each run of a
    # scenario (agent, command id) was applied to, so a resent run skips those tickets
    """
    CREATE TABLE canned_folders (
        id         INTEGER PRIMARY KEY,
        name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE canned_responses (
        id             INTEGER PRIMARY KEY,
        title          TEXT    NOT NULL,
        body           TEXT    NOT NULL DEFAULT '',
        folder_id      INTEGER REFERENCES canned_folders(id),
        owner_agent_id INTEGER REFERENCES agents(id),
        media          TEXT    NOT NULL DEFAULT '[]',
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    );
    CREATE INDEX canned_by_owner ON canned_responses(owner_agent_id, title);
    CREATE TABLE scenarios (
        id         INTEGER PRIMARY KEY,
        name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
        actions    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE scenario_runs (
        agent_id   INTEGER NOT NULL,
        command_id TEXT    NOT NULL,
        ticket_id  INTEGER NOT NULL,
        result     TEXT    NOT NULL,
        PRIMARY KEY (agent_id, command_id, ticket_id)
    ) WITHOUT ROWID;
    """,
    # 12 (issue 10, loose ends): who moved a ticket to the Trash (the Trash view says
    # "deleted 3d ago by Dana"; NULL for tickets deleted before this version); and which
    # tickets each remembered command result speaks of, so purging a ticket scrubs the
    # results that still hold its words (core.trash); the results kept before this
    # version are linked by the ticket ids their JSON names
    """
    ALTER TABLE tickets ADD COLUMN deleted_by INTEGER REFERENCES agents(id);
    -- Opt-out is judged per (customer phone, business number) from the audit trail (core.optout).
    CREATE INDEX opt_out_changes_by_phone ON opt_out_changes(phone, id);
    CREATE TABLE command_result_tickets (
        ticket_id  INTEGER NOT NULL,
        agent_id   INTEGER NOT NULL,
        command_id TEXT    NOT NULL,
        PRIMARY KEY (ticket_id, agent_id, command_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO command_result_tickets(ticket_id, agent_id, command_id)
        SELECT ticket_id, agent_id, command_id FROM (
            SELECT json_extract(result, '$.ticket_id') AS ticket_id, agent_id, command_id
                FROM command_results WHERE json_valid(result)
            UNION ALL
            SELECT json_extract(result, '$.ticket.id'), agent_id, command_id
                FROM command_results WHERE json_valid(result)
            UNION ALL
            SELECT json_extract(result, '$.id'), agent_id, command_id
                FROM command_results
                WHERE json_valid(result) AND json_extract(result, '$.contact_id') IS NOT NULL
        ) WHERE typeof(ticket_id) = 'integer';
    """,
    # 13 (issue 12, email): email is a second channel of the same ticket. An email message is
    # an entry with channel 'email': its subject, its RFC 5322 Message-ID (angle brackets
    # kept), what the mail server said of it (accepted, refused, a bounce's reason) and the
    # media ref of the full original inbound mail. A Message-ID is stored once (a second
    # delivery of the same mail finds the first); SMS entries leave all four NULL, so the
    # partial index costs them nothing. A ticket remembers the channel of its last message
    # (the list's mark; MMS counts as SMS).
    """
    ALTER TABLE entries ADD COLUMN subject TEXT;
    ALTER TABLE entries ADD COLUMN mail_id TEXT;
    ALTER TABLE entries ADD COLUMN mail_detail TEXT;
    ALTER TABLE entries ADD COLUMN mail_original TEXT;
    CREATE UNIQUE INDEX entries_mail_id ON entries(mail_id) WHERE mail_id IS NOT NULL;
    ALTER TABLE tickets ADD COLUMN last_channel TEXT NOT NULL DEFAULT 'sms';
    """,
    # 14: replies Twilio has (a SID) with no outcome yet, by when their status last moved:
    # the outbox's leader asks Twilio about those whose callbacks never came
    # (server/outbox_status.py) once a minute; only these few rows are indexed, so the
    # question costs the same on a desk with a million settled messages
    """
    CREATE INDEX entries_unsettled ON entries(updated_at, id)
        WHERE kind = 'message' AND direction = 'outbound' AND twilio_sid IS NOT NULL
        AND status IN ('accepted', 'scheduled', 'queued', 'sending', 'sent');
    """,
    # 15 (issue 13, the SMS bot): a message the bot wrote is marked (the thread shows
    # "Bot"; the loop guard counts them); business hours per number or group (a JSON
    # calendar, core.business_hours.calendar_to_dict); a bot flow per business number
    # (its TOML as saved, on or off, a version the relay caches parsed flows by); and
    # where each ticket's conversation with the bot stands (core.bot_engine.Session)
    """
    ALTER TABLE entries ADD COLUMN by_bot INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE business_hours (
        scope      TEXT    NOT NULL CHECK (scope IN ('number', 'group')),
        scope_id   INTEGER NOT NULL,
        calendar   TEXT    NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (scope, scope_id)
    );
    CREATE TABLE bot_flows (
        number_id  INTEGER PRIMARY KEY REFERENCES phone_numbers(id),
        enabled    INTEGER NOT NULL DEFAULT 0,
        source     TEXT    NOT NULL,
        version    INTEGER NOT NULL DEFAULT 1,
        updated_at INTEGER NOT NULL,
        updated_by INTEGER REFERENCES agents(id)
    );
    CREATE TABLE bot_sessions (
        ticket_id  INTEGER PRIMARY KEY REFERENCES tickets(id),
        state      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
    );
    """,
    # 16 (issue 14, CSAT and SLA): each business number's survey (its text, an optional
    # follow-up asking for a comment, how many days a reply counts as a rating, whether
    # tickets resolved in bulk are surveyed too); one row per survey sent, which the
    # rating, the comment and the reports read (the agent and group the ticket had when
    # resolved); the desk's automatic texts say what they were for (entries.purpose).
    # SLA: targets per priority in business ms, and each ticket's clocks (core.sla):
    # its two due times, when it was first answered and resolved, the business time the
    # resolution clock has used and when it last started running (NULL while paused).
    """
    ALTER TABLE phone_numbers ADD COLUMN csat_text TEXT NOT NULL
        DEFAULT 'How did we do? Reply 1 (poor) to 5 (great).';
    ALTER TABLE phone_numbers ADD COLUMN csat_followup TEXT NOT NULL DEFAULT '';
    ALTER TABLE phone_numbers ADD COLUMN csat_window_days INTEGER NOT NULL DEFAULT 3;
    ALTER TABLE phone_numbers ADD COLUMN csat_bulk INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE csat_surveys (
        id         INTEGER PRIMARY KEY,
        ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
        number_id  INTEGER NOT NULL REFERENCES phone_numbers(id),
        agent_id   INTEGER REFERENCES agents(id),
        group_id   INTEGER REFERENCES agent_groups(id),
        message_id INTEGER NOT NULL REFERENCES entries(id),
        sent_at    INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        rating     INTEGER CHECK (rating BETWEEN 1 AND 5),
        rated_at   INTEGER,
        comment    TEXT,
        state      TEXT    NOT NULL DEFAULT 'sent'
            CHECK (state IN ('sent', 'rated', 'asked_comment', 'done', 'expired'))
    );
    CREATE INDEX csat_open ON csat_surveys(ticket_id, id);
    CREATE INDEX csat_by_time ON csat_surveys(sent_at);
    ALTER TABLE entries ADD COLUMN purpose TEXT;
    CREATE TABLE sla_targets (
        priority       TEXT    PRIMARY KEY,
        first_response INTEGER,
        resolution     INTEGER,
        updated_at     INTEGER NOT NULL
    );
    ALTER TABLE tickets ADD COLUMN first_response_due INTEGER;
    ALTER TABLE tickets ADD COLUMN resolution_due INTEGER;
    ALTER TABLE tickets ADD COLUMN first_responded_at INTEGER;
    ALTER TABLE tickets ADD COLUMN resolved_at INTEGER;
    ALTER TABLE tickets ADD COLUMN sla_used INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN sla_since INTEGER;
    CREATE INDEX tickets_due ON tickets(resolution_due)
        WHERE resolution_due IS NOT NULL AND deleted = 0;
    CREATE INDEX tickets_first_due ON tickets(first_response_due)
        WHERE first_response_due IS NOT NULL AND deleted = 0;
    """,
    # 17 (issue 14, reports; core.report_counts, core.reports): what a number's segment
    # costs (a decimal string, NULL: not set) and in which currency; counters per UTC hour
    # (epoch ms // 3_600_000) and per number, group, agent (0: none) and channel, kept by
    # the writes that cause them, so a report sums a few thousand rows whatever the size of
    # the desk, in any time zone (metric first: each figure is one range of the key); and
    # each ticket's first response and resolution time in business ms, indexed by when
    # they happened for the percentiles. Tickets answered or resolved before version 16
    # kept no clock: the rows say when (the first agent reply; the last change of a
    # resolved or closed ticket), and their durations are wall-clock (a script cannot
    # apply business hours). Then every counter is recounted from the rows.
    SQLITE_17,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer smsdesk; refusing protects its data."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to ``SCHEMA_VERSION``; return the version found.

    Needs a connection in autocommit mode (``isolation_level=None``) so each
    step commits exactly when we say.
    """
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {found} is newer than this smsdesk ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    """Split a script into statements; ``executescript`` would COMMIT on its own."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
