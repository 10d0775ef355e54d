-- Holds (reservations) and orders.

CREATE TABLE holds (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'committed', 'released', 'expired')),
    -- What the create asked for, so a retry can be told from another hold with the same id.
    request_hash  TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_by_order ON holds (order_id);

-- Where each hold took its stock from: one row per (item, location) part.
CREATE TABLE hold_lines (
    hold_id      TEXT NOT NULL REFERENCES holds (id),
    line_no      BIGINT NOT NULL,
    item_id      TEXT NOT NULL REFERENCES items (id),
    location_id  TEXT NOT NULL REFERENCES locations (id),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (hold_id, line_no)
);

CREATE INDEX hold_lines_by_level ON hold_lines (item_id, location_id);

CREATE TABLE orders (
    id            TEXT PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled', 'expired')),
    hold_id       TEXT NOT NULL UNIQUE REFERENCES holds (id),
    request_hash  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX orders_by_status ON orders (status, created_at);
