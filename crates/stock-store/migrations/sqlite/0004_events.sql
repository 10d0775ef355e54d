-- The outbox of live events: every change to stock, every state a hold, an
-- order or an alert takes. Triggers write it in the same transaction as the
-- change, so no event is lost across a crash and none is sent for a change
-- that was rolled back. Readers follow it by id (SSE, webhooks).

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('stock', 'reservation', 'order', 'alert')),
    subject     TEXT NOT NULL,
    status      TEXT,
    ledger_id   INTEGER,
    created_at  INTEGER NOT NULL
);

-- No index on created_at: old events are purged from the oldest id on.

CREATE TRIGGER events_ledger AFTER INSERT ON ledger BEGIN
    INSERT INTO events (kind, subject, ledger_id, created_at)
    VALUES ('stock', NEW.item_id, NEW.id, NEW.created_at);
END;

CREATE TRIGGER events_hold_created AFTER INSERT ON holds BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('reservation', NEW.id, NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_hold_changed AFTER UPDATE OF status ON holds
WHEN NEW.status != OLD.status BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('reservation', NEW.id, NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_order_created AFTER INSERT ON orders BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('order', NEW.id, NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_order_changed AFTER UPDATE OF status ON orders
WHEN NEW.status != OLD.status BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('order', NEW.id, NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_alert_created AFTER INSERT ON alerts BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('alert', CAST(NEW.id AS TEXT), NEW.status, NEW.updated_at);
END;

CREATE TRIGGER events_alert_changed AFTER UPDATE OF status ON alerts
WHEN NEW.status != OLD.status BEGIN
    INSERT INTO events (kind, subject, status, created_at)
    VALUES ('alert', CAST(NEW.id AS TEXT), NEW.status, NEW.updated_at);
END;
