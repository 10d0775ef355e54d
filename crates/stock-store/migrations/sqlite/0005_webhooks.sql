-- Webhooks: where events are pushed, how far each has got, and every attempt.

CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    kinds        TEXT NOT NULL,
    -- The last event delivered (or given up on); delivery resumes after it.
    cursor       INTEGER NOT NULL,
    -- Attempts at the event after the cursor, and when to try it next.
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL DEFAULT 0,
    -- The process delivering for this webhook until lease_until.
    leased_by    TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    deleted_at   INTEGER,
    created_at   INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id   TEXT NOT NULL REFERENCES webhooks (id),
    event_id     INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    status_code  INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);
