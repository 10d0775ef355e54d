-- The inventory core: locations, items, levels, the ledger, API keys and retry keys.
-- Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE locations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    priority    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) STRICT;

INSERT INTO locations (id, name, priority, created_at)
VALUES ('default', 'Default', 0, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

CREATE TABLE items (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'locked')),
    min_stock        INTEGER,
    max_stock        INTEGER,
    allow_backorder  INTEGER NOT NULL DEFAULT 0 CHECK (allow_backorder IN (0, 1)),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX items_by_name ON items (name);

CREATE TABLE levels (
    item_id      TEXT NOT NULL REFERENCES items (id),
    location_id  TEXT NOT NULL REFERENCES locations (id),
    on_hand      INTEGER NOT NULL,
    reserved     INTEGER NOT NULL CHECK (reserved >= 0),
    version      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (item_id, location_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE ledger (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id          TEXT NOT NULL REFERENCES items (id),
    location_id      TEXT NOT NULL REFERENCES locations (id),
    operation        TEXT NOT NULL,
    on_hand_delta    INTEGER NOT NULL,
    reserved_delta   INTEGER NOT NULL,
    on_hand_before   INTEGER NOT NULL,
    on_hand_after    INTEGER NOT NULL,
    reserved_before  INTEGER NOT NULL,
    reserved_after   INTEGER NOT NULL,
    version_after    INTEGER NOT NULL,
    order_id         TEXT,
    reservation_id   TEXT,
    reason           TEXT,
    operator         TEXT NOT NULL,
    trace_id         TEXT,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX ledger_by_item ON ledger (item_id, id);
CREATE INDEX ledger_by_order ON ledger (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX ledger_by_trace ON ledger (trace_id) WHERE trace_id IS NOT NULL;

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

-- sync-stock retries without an Idempotency-Key: one row per (order, item,
-- direction) and per (trace, item), pointing at the ledger row it produced.
CREATE TABLE sync_retry_keys (
    retry_key   TEXT PRIMARY KEY NOT NULL,
    ledger_id   INTEGER NOT NULL REFERENCES ledger (id),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX sync_retry_keys_by_age ON sync_retry_keys (created_at);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'service', 'storefront')),
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;

CREATE TABLE idempotency_keys (
    key_id           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    status_code      INTEGER NOT NULL,
    body             BLOB NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
