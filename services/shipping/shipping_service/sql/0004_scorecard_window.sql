-- The carriers' scorecards read the bookings of the last minutes every few seconds: by time, not the whole table.
CREATE INDEX shipments_created ON shipments (created_at);
