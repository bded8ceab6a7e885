-- A location's open requests (its scorecard's load), weighed by a channel's routing `workload`.
ALTER TABLE partner_scores ADD COLUMN open_requests integer NOT NULL DEFAULT 0;
