-- By when each shipment was promised to arrive, and when it did: the carriers' on-time share in their scorecards.
ALTER TABLE shipments ADD COLUMN deliver_by timestamptz, ADD COLUMN delivered_at timestamptz;
