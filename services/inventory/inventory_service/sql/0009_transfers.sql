-- Transfers between locations: asked for (units held back at the source), shipped (off the source's hand, inbound at
-- the destination with an ETA), received (on the destination's hand; a difference is an adjustment with the reason),
-- or refused (the source had not that many available).
CREATE TABLE transfers (
    transfer_id      text PRIMARY KEY,
    sku              text        NOT NULL,
    quantity         integer     NOT NULL,
    from_location_id text        NOT NULL,
    to_location_id   text        NOT NULL,
    status           text        NOT NULL,
    shipped          integer,
    received         integer,
    eta              timestamptz,
    reason           text,
    requested_by     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_open ON transfers (sku, to_location_id) WHERE status IN ('requested', 'shipped');

-- what is expected has an id of its own (the message's that said so, or the transfer's), belongs to a purchase order
-- or a transfer (`po_id`), and is closed when it arrived
ALTER TABLE inbound_expected ADD COLUMN expected_id text UNIQUE, ADD COLUMN po_id text, ADD COLUMN closed_at timestamptz;
CREATE INDEX inbound_expected_po ON inbound_expected (po_id) WHERE po_id IS NOT NULL;
