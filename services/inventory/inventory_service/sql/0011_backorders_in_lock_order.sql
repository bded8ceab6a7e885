-- A waiting order's place in the queue is when it was written, under the lock on its SKU's stock rows (not when its
-- transaction began): two orders placed at once are dated from inbound units in the order they queued, so an
-- order told a date is never passed over by one whose transaction began earlier but queued later.
ALTER TABLE backorders ALTER COLUMN created_at SET DEFAULT clock_timestamp();
