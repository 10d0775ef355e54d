-- Webhooks: where events are pushed, how far each has got, and every attempt.

CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    kinds        TEXT NOT NULL,
    -- The last event delivered (or given up on); delivery resumes after it.
    cursor       BIGINT NOT NULL,
    -- Attempts at the event after the cursor, and when to try it next.
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_try_at  BIGINT NOT NULL DEFAULT 0,
    -- The process delivering for this webhook until lease_until.
    leased_by    TEXT,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    deleted_at   BIGINT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   TEXT NOT NULL REFERENCES webhooks (id),
    event_id     BIGINT NOT NULL,
    attempt      BIGINT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'failed')),
    status_code  BIGINT,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);
