-- The health checker: each run that compared the cache with the database,
-- and every difference it found beyond the tolerance (at most one pending
-- per item). Alerts learn a fourth kind, diff_alert, which no ledger row
-- raises: the table is rebuilt (SQLite cannot change a CHECK) with its
-- indexes and the outbox triggers that watch it.

CREATE TABLE health_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    checked          INTEGER NOT NULL,
    missing          INTEGER NOT NULL,
    diffs_found      INTEGER NOT NULL,
    alerts_raised    INTEGER NOT NULL,
    auto_fixed       INTEGER NOT NULL,
    auto_fix_failed  INTEGER NOT NULL,
    error            TEXT,
    operator         TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL
);

CREATE TABLE diffs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id      TEXT NOT NULL REFERENCES items (id),
    run_id       INTEGER NOT NULL REFERENCES health_runs (id),
    db_value     INTEGER NOT NULL,
    cache_value  INTEGER NOT NULL,
    diff         INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'fixed', 'ignored')),
    fix_type     TEXT CHECK (fix_type IN ('use_db', 'use_redis')),
    fixed_by     TEXT,
    fixed_at     INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE UNIQUE INDEX diffs_one_pending ON diffs (item_id) WHERE status = 'pending';
CREATE INDEX diffs_by_status ON diffs (status, id);

CREATE TABLE alerts_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     TEXT NOT NULL REFERENCES items (id),
    kind        TEXT NOT NULL CHECK (kind IN ('low_stock', 'out_of_stock', 'back_in_stock', 'diff_alert')),
    level       TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'acknowledged', 'ignored')),
    available   INTEGER NOT NULL,
    threshold   INTEGER NOT NULL,
    ledger_id   INTEGER,
    message     TEXT NOT NULL,
    handled_by  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

INSERT INTO alerts_new SELECT id, item_id, kind, level, status, available, threshold,
    ledger_id, message, handled_by, created_at, updated_at FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;

CREATE UNIQUE INDEX alerts_one_open ON alerts (item_id, kind) WHERE status IN ('pending', 'sent');
CREATE INDEX alerts_by_status ON alerts (status, id);
CREATE INDEX alerts_by_item ON alerts (item_id, id);

CREATE TRIGGER events_alert_created AFTER INSERT ON alerts BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('alert', CAST(NEW.id AS TEXT), NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_alert_changed AFTER UPDATE OF status ON alerts
WHEN NEW.status != OLD.status BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('alert', CAST(NEW.id AS TEXT), NEW.status, NEW.updated_at);
END;
