-- The carrier's estimate given with its booking, kept here: the saga hears of a shipment once it left (picked up),
-- and learns the carrier, tracking number and estimate then.
ALTER TABLE shipments ADD COLUMN estimated_delivery timestamptz;
