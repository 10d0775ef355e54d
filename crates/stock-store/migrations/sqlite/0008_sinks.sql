-- How far each further sink of the outbox (NATS JetStream) has published.

CREATE TABLE sink_cursors (
    name        TEXT PRIMARY KEY NOT NULL,
    cursor      INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
