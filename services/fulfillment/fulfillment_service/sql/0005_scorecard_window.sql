-- The scorecards read each location's requests of the last minutes every few seconds: by time, not the whole table.
CREATE INDEX fulfillments_created ON fulfillments (created_at);
