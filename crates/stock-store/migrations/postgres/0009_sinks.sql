-- How far each further sink of the outbox (NATS JetStream) has published.

CREATE TABLE sink_cursors (
    name        TEXT PRIMARY KEY NOT NULL,
    cursor      BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
