-- The health checker: each run that compared the cache with the database,
-- and every difference it found beyond the tolerance (at most one pending
-- per item). Alerts learn a fourth kind, diff_alert, which no ledger row raises.

CREATE TABLE health_runs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    checked          BIGINT NOT NULL,
    missing          BIGINT NOT NULL,
    diffs_found      BIGINT NOT NULL,
    alerts_raised    BIGINT NOT NULL,
    auto_fixed       BIGINT NOT NULL,
    auto_fix_failed  BIGINT NOT NULL,
    error            TEXT,
    operator         TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    finished_at      BIGINT NOT NULL
);

CREATE TABLE diffs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id      TEXT NOT NULL REFERENCES items (id),
    run_id       BIGINT NOT NULL REFERENCES health_runs (id),
    db_value     BIGINT NOT NULL,
    cache_value  BIGINT NOT NULL,
    diff         BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'fixed', 'ignored')),
    fix_type     TEXT CHECK (fix_type IN ('use_db', 'use_redis')),
    fixed_by     TEXT,
    fixed_at     BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE UNIQUE INDEX diffs_one_pending ON diffs (item_id) WHERE status = 'pending';
CREATE INDEX diffs_by_status ON diffs (status, id);

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('low_stock', 'out_of_stock', 'back_in_stock', 'diff_alert'));
ALTER TABLE alerts ALTER COLUMN ledger_id DROP NOT NULL;
