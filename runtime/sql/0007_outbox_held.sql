-- State messages held back (a stock level, a channel's availability: the latest value per SKU and location or channel
-- is all a reader needs): the relay moves the latest of each into the outbox at most once per OMS_HOLD_STATE_MS.
CREATE TABLE outbox_held (
    id           bigserial PRIMARY KEY,
    topic        text        NOT NULL,
    key          text,
    replaces     text        NOT NULL,  -- what a newer message of the same topic makes obsolete
    message_id   text        NOT NULL,
    message_type text        NOT NULL,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL
);
ALTER TABLE outbox_held SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                             autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
                             autovacuum_analyze_threshold = 2000);
