-- The outbox of live events: every change to stock, every state a hold, an
-- order or an alert takes. Triggers write it in the same transaction as the
-- change, so no event is lost across a crash and none is sent for a change
-- that was rolled back. Readers follow it by id (SSE, webhooks).

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('stock', 'reservation', 'order', 'alert')),
    subject     TEXT NOT NULL,
    status      TEXT,
    ledger_id   BIGINT,
    created_at  BIGINT NOT NULL
);

-- No index on created_at: old events are purged from the oldest id on.

-- Once per statement, not per row: a run of sales inserts its ledger rows
-- with one statement, and a row trigger cost more than the rows themselves.
CREATE FUNCTION events_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (kind, subject, ledger_id, created_at)
    SELECT 'stock', item_id, id, created_at FROM inserted ORDER BY id;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_ledger AFTER INSERT ON ledger
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION events_ledger();

-- TG_ARGV[0] is the kind; the subject is the row's id.
CREATE FUNCTION events_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO events (kind, subject, status, created_at)
        VALUES (TG_ARGV[0], CAST(NEW.id AS TEXT), NEW.status, NEW.updated_at);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_hold AFTER INSERT OR UPDATE OF status ON holds
FOR EACH ROW EXECUTE FUNCTION events_state('reservation');
CREATE TRIGGER events_order AFTER INSERT OR UPDATE OF status ON orders
FOR EACH ROW EXECUTE FUNCTION events_state('order');
CREATE TRIGGER events_alert AFTER INSERT OR UPDATE OF status ON alerts
FOR EACH ROW EXECUTE FUNCTION events_state('alert');
