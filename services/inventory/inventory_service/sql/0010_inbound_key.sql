-- An inbound line is known by its own id (a purchase order's line, a transfer, or the message that announced it):
-- the key its unit of work reads and updates it by. Rows from before keep their number as their id.
UPDATE inbound_expected SET expected_id = 'row-' || id WHERE expected_id IS NULL;
ALTER TABLE inbound_expected DROP CONSTRAINT inbound_expected_pkey, ALTER COLUMN expected_id SET NOT NULL,
    ADD PRIMARY KEY (expected_id);
ALTER TABLE inbound_expected DROP CONSTRAINT inbound_expected_expected_id_key;
