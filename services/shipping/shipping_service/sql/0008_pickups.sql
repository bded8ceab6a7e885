-- Carrier pickups: each one asked for ahead of its time with its manifest (the shipments booked there with that
-- carrier since the one before), and the carrier's answer. A shipment names the pickup it went on; one whose
-- pickup was missed is free again for the next.
CREATE TABLE pickups (
    pickup_id    text PRIMARY KEY,
    location_id  text        NOT NULL,
    carrier_id   text        NOT NULL,
    at           timestamptz NOT NULL,
    status       text        NOT NULL,
    shipment_ids text[]      NOT NULL,
    parcels      integer     NOT NULL,
    weight_grams integer     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pickups_at ON pickups (at);
ALTER TABLE shipments ADD COLUMN pickup_id text;
CREATE INDEX shipments_awaiting_pickup ON shipments (location_id, carrier_id)
    WHERE pickup_id IS NULL AND status IN ('booked', 'picked_up');
