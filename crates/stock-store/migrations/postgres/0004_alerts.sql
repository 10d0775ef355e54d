-- Alerts: raised by the write that takes an item's available stock across a
-- line (low stock, out of stock, back in stock), at most one open (pending or
-- sent) per item and kind.

CREATE TABLE alerts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     TEXT NOT NULL REFERENCES items (id),
    kind        TEXT NOT NULL CHECK (kind IN ('low_stock', 'out_of_stock', 'back_in_stock')),
    level       TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'acknowledged', 'ignored')),
    available   BIGINT NOT NULL,
    threshold   BIGINT NOT NULL,
    ledger_id   BIGINT NOT NULL,
    message     TEXT NOT NULL,
    handled_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX alerts_one_open ON alerts (item_id, kind) WHERE status IN ('pending', 'sent');
CREATE INDEX alerts_by_status ON alerts (status, id);
CREATE INDEX alerts_by_item ON alerts (item_id, id);
