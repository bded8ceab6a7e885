-- When each request was accepted and packed: the scorecards' accept latency, accept-to-pack time and on-time share.
ALTER TABLE fulfillments ADD COLUMN accepted_at timestamptz, ADD COLUMN packed_at timestamptz;
