-- When each request was picked: the scorecards' pick-to-pack time.
ALTER TABLE fulfillments ADD COLUMN picked_at timestamptz;
