"""The node database's tables: audit log (hash-chained, append-only by trigger), inbox,
outbox, receipts, checkpoints, audited deliveries, handler jobs and hits.
``database.py`` beside it opens the file and runs transactions on it.

The script runs at every open, so a table added later (``audited_deliveries``) is
created in an older file then: an addition needs no migration and no new version."""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    message_id TEXT,
    peer       TEXT,
    topic      TEXT,
    reason     TEXT,
    detail     TEXT,
    envelope   BLOB,
    prev       BLOB NOT NULL,
    hash       BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_once ON audit(kind, message_id)
    WHERE kind IN ('sent', 'received');
CREATE TABLE IF NOT EXISTS audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL,
    head  BLOB NOT NULL
);
INSERT OR IGNORE INTO audit_head (id, count, head) VALUES (1, 0, zeroblob(32));
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS inbox (
    message_id  TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    sender      TEXT NOT NULL,
    topic       TEXT NOT NULL,
    tlp         TEXT NOT NULL,
    priority    TEXT NOT NULL,
    alert       TEXT NOT NULL,
    audit_seq   INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'new'
);
CREATE TABLE IF NOT EXISTS outbox (
    message_id   TEXT PRIMARY KEY,            -- our key (receipts: rcpt-<id>-<me>, checkpoints:
                                              -- ckpt-<me>-<count>); the Nats-Msg-Id is hashed
                                              -- from subject and envelope (protocol/msgid.py)
    kind         TEXT NOT NULL DEFAULT 'alert',
    subject      TEXT NOT NULL,
    envelope     BLOB NOT NULL,
    priority     INTEGER NOT NULL,
    recipients   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,                        -- not sent after this (state 'expired')
    state        TEXT NOT NULL DEFAULT 'queued',
    attempts     INTEGER NOT NULL DEFAULT 0,
    published_at TEXT,
    stream_seq   INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(state, priority, created_at);
CREATE TABLE IF NOT EXISTS receipts (
    message_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    receipt     BLOB NOT NULL,
    PRIMARY KEY (message_id, recipient)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    member     TEXT NOT NULL,                 -- ours, or (at the hub) another member's
    count      INTEGER NOT NULL,
    head       BLOB NOT NULL,
    at         TEXT NOT NULL,
    checkpoint BLOB NOT NULL,                 -- the signed bytes
    PRIMARY KEY (member, count)
);
CREATE TABLE IF NOT EXISTS audited_deliveries (  -- stream messages audited before they
    stream_seq INTEGER NOT NULL,              -- were settled for good (a deferral, a replay):
    sha256     TEXT NOT NULL,                 -- a redelivery of one is not audited again
    kind       TEXT NOT NULL,                 -- (the hash: a stream re-created from 1 does
    audit_seq  INTEGER NOT NULL,              -- not make a new message look audited)
    PRIMARY KEY (stream_seq, sha256)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handler_jobs (     -- work for handler instances (node/handlers)
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,                 -- the inbox alert this work is about
    kind       TEXT NOT NULL,                 -- 'alert', or 'hit' (a watch-list hit on it)
    hit_id     INTEGER NOT NULL DEFAULT 0,
    instance   TEXT NOT NULL,
    route      TEXT NOT NULL,
    priority   INTEGER NOT NULL,              -- wire code: flash (0) first
    state      TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (message_id, kind, hit_id, instance)
);
CREATE INDEX IF NOT EXISTS handler_jobs_due ON handler_jobs(instance, state, priority, id);
CREATE TABLE IF NOT EXISTS hits (              -- watch-list hits raised by handlers
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    instance   TEXT NOT NULL,
    list_entry TEXT NOT NULL,
    entity     TEXT NOT NULL,
    score      REAL NOT NULL,
    fields     TEXT NOT NULL,                 -- JSON list of the fields that matched
    raised_at  TEXT NOT NULL,
    UNIQUE (message_id, instance, list_entry, entity)
);
"""
