-- Outgoing webhooks: one row per subscriber and message, sent by the dispatcher (retried with a doubling wait,
-- dead after too many failures or a refusal no retry can change; `oms webhooks` shows them, and sends dead ones again).
CREATE TABLE webhook_deliveries (
    delivery_id     text PRIMARY KEY,
    subscriber      text        NOT NULL,
    message_id      text        NOT NULL,
    message_type    text        NOT NULL,
    order_id        text,
    payload         jsonb       NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    dead_at         timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (dead_at) WHERE dead_at IS NOT NULL;
