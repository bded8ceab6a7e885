-- Every partner's latest scorecard, carriers' too: a location's open requests (its load, weighed by a channel's
-- routing `workload`), and the whole scorecard as published, for `oms scorecards`.
ALTER TABLE partner_scores ADD COLUMN open_requests integer NOT NULL DEFAULT 0,
                           ADD COLUMN kind text NOT NULL DEFAULT 'location',
                           ADD COLUMN card jsonb;
