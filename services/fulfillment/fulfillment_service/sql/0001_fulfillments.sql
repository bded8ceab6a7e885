-- One fulfillment per allocated location: what was asked of the warehouse and how far it has come.
CREATE TABLE fulfillments (
    fulfillment_id text PRIMARY KEY,
    order_id       text        NOT NULL,
    location_id    text        NOT NULL,
    status         text        NOT NULL,
    lines          jsonb       NOT NULL,
    invoice        jsonb,
    ship_by        timestamptz NOT NULL,
    deadline_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fulfillments_order ON fulfillments (order_id);
CREATE INDEX fulfillments_deadline ON fulfillments (deadline_at) WHERE deadline_at IS NOT NULL;
