-- Returns a location was told to expect, and whether they arrived: a location speaks only for those sent to it.
CREATE TABLE returns (
    return_id   text PRIMARY KEY,
    order_id    text        NOT NULL,
    location_id text        NOT NULL,
    status      text        NOT NULL,
    lines       jsonb       NOT NULL,
    received    jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX returns_order ON returns (order_id);
