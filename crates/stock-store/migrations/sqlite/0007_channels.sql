-- Channels (a shop's storefront on another platform) and their listings,
-- each linked to a warehouse item. A sync publishes only the sellable
-- quantity of each listing and records what it published, and when.

CREATE TABLE channels (
    id          TEXT PRIMARY KEY NOT NULL,
    -- Where a sync pushes to; NULL: the channel reads through the API.
    endpoint    TEXT,
    secret      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE listings (
    channel_id          TEXT NOT NULL REFERENCES channels (id),
    listing_id          TEXT NOT NULL,
    item_id             TEXT NOT NULL REFERENCES items (id),
    -- NULL: available over every location.
    location_id         TEXT REFERENCES locations (id),
    buffer              INTEGER NOT NULL CHECK (buffer >= 0),
    published_quantity  INTEGER,
    published_at        INTEGER,
    last_attempt_at     INTEGER,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (channel_id, listing_id)
);

CREATE INDEX listings_by_item ON listings (item_id);
