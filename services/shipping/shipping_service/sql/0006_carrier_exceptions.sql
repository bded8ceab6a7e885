-- How many exceptions (damaged, lost, address problems) the carrier reported for the shipment: its scorecard
-- counts shipments with one as failures.
ALTER TABLE shipments ADD COLUMN exceptions integer NOT NULL DEFAULT 0;
