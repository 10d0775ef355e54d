-- Items whose stock lives at a supplier: each is linked to one supplier's
-- product code, and a sync writes the supplier's figure into the item's
-- level at a location of the supplier's. The link keeps the last figure
-- the supplier gave, for which region, and when.

CREATE TABLE supplier_links (
    item_id             TEXT PRIMARY KEY REFERENCES items (id),
    supplier            TEXT NOT NULL,
    product_code        TEXT NOT NULL,
    -- Ask the supplier for its stock before an order is taken.
    check_before_order  BOOLEAN NOT NULL DEFAULT FALSE,
    last_stock          BIGINT CHECK (last_stock >= 0),
    last_county_code    TEXT,
    last_synced_at      BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- One item per product code of a supplier.
CREATE UNIQUE INDEX supplier_links_by_code ON supplier_links (supplier, product_code);
