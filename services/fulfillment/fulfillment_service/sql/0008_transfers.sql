-- Transfers handed to a source location: who may say they left (the source) and arrived (the destination).
CREATE TABLE transfers (
    transfer_id      text PRIMARY KEY,
    sku              text        NOT NULL,
    quantity         integer     NOT NULL,
    from_location_id text        NOT NULL,
    to_location_id   text        NOT NULL,
    status           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
