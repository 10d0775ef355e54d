-- The inventory core: locations, items, levels, the ledger, API keys and retry keys.
-- Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE locations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    priority    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

INSERT INTO locations (id, name, priority, created_at)
VALUES ('default', 'Default', 0, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT));

CREATE TABLE items (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'locked')),
    min_stock        BIGINT,
    max_stock        BIGINT,
    allow_backorder  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX items_by_name ON items (name);

CREATE TABLE levels (
    item_id      TEXT NOT NULL REFERENCES items (id),
    location_id  TEXT NOT NULL REFERENCES locations (id),
    on_hand      BIGINT NOT NULL,
    reserved     BIGINT NOT NULL CHECK (reserved >= 0),
    version      BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (item_id, location_id)
);

CREATE TABLE ledger (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id          TEXT NOT NULL REFERENCES items (id),
    location_id      TEXT NOT NULL REFERENCES locations (id),
    operation        TEXT NOT NULL,
    on_hand_delta    BIGINT NOT NULL,
    reserved_delta   BIGINT NOT NULL,
    on_hand_before   BIGINT NOT NULL,
    on_hand_after    BIGINT NOT NULL,
    reserved_before  BIGINT NOT NULL,
    reserved_after   BIGINT NOT NULL,
    version_after    BIGINT NOT NULL,
    order_id         TEXT,
    reservation_id   TEXT,
    reason           TEXT,
    operator         TEXT NOT NULL,
    trace_id         TEXT,
    created_at       BIGINT NOT NULL
);

CREATE INDEX ledger_by_item ON ledger (item_id, id);
CREATE INDEX ledger_by_order ON ledger (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_trace ON ledger (trace_id) WHERE trace_id IS NOT NULL;

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END
$$;

CREATE TRIGGER ledger_no_change BEFORE UPDATE OR DELETE ON ledger
FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- sync-stock retries without an Idempotency-Key: one row per (order, item,
-- direction) and per (trace, item), pointing at the ledger row it produced.
CREATE TABLE sync_retry_keys (
    retry_key   TEXT PRIMARY KEY,
    ledger_id   BIGINT NOT NULL REFERENCES ledger (id),
    created_at  BIGINT NOT NULL
);

CREATE INDEX sync_retry_keys_by_age ON sync_retry_keys (created_at);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'service', 'storefront')),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE idempotency_keys (
    key_id           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    status_code      BIGINT NOT NULL,
    body             BYTEA NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
