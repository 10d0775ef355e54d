-- Replicas write side by side: no writers' turn, only row locks. Then the
-- order of ids is no longer the order of commits, and two facts take its
-- place.
--
-- 1. Every event and ledger row names its transaction (`tx`, the top-level
--    transaction id). Readers of the outbox follow it in (tx, id) order, and
--    only up to the oldest transaction still running, so an event that
--    commits late is never passed over (`events.rs`).
-- 2. Every level, hold and order names the transaction that wrote it last
--    (`writer`), and no transaction changes a row that a younger one wrote:
--    it gives way (`lock_not_available`), and the command runs again in a
--    later transaction. So the transactions that change one row do so in
--    the order of their ids, and (tx, id) order is each row's own order.
--
-- Rows from before keep 0: older than any transaction.

ALTER TABLE events ADD COLUMN tx xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
CREATE INDEX events_in_order ON events (tx, id);

ALTER TABLE ledger ADD COLUMN tx xid8 NOT NULL DEFAULT '0';
ALTER TABLE ledger ALTER COLUMN tx SET DEFAULT pg_current_xact_id();

ALTER TABLE levels ADD COLUMN writer xid8 NOT NULL DEFAULT '0';
ALTER TABLE levels ALTER COLUMN writer SET DEFAULT pg_current_xact_id();
ALTER TABLE holds ADD COLUMN writer xid8 NOT NULL DEFAULT '0';
ALTER TABLE holds ALTER COLUMN writer SET DEFAULT pg_current_xact_id();
ALTER TABLE orders ADD COLUMN writer xid8 NOT NULL DEFAULT '0';
ALTER TABLE orders ALTER COLUMN writer SET DEFAULT pg_current_xact_id();

CREATE FUNCTION writers_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.writer > pg_current_xact_id() THEN
        RAISE EXCEPTION '% was written by a younger transaction', TG_TABLE_NAME
            USING ERRCODE = 'lock_not_available';
    END IF;
    NEW.writer := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER levels_writer BEFORE UPDATE ON levels
FOR EACH ROW EXECUTE FUNCTION writers_in_order();
CREATE TRIGGER holds_writer BEFORE UPDATE ON holds
FOR EACH ROW EXECUTE FUNCTION writers_in_order();
CREATE TRIGGER orders_writer BEFORE UPDATE ON orders
FOR EACH ROW EXECUTE FUNCTION writers_in_order();
