-- One shipment per packed fulfillment: the carrier chosen, those tried, and the tracking.
CREATE TABLE shipments (
    shipment_id     text PRIMARY KEY,
    order_id        text        NOT NULL,
    location_id     text        NOT NULL,
    service_level   text        NOT NULL,
    ship_to         jsonb       NOT NULL,
    parcels         jsonb       NOT NULL,
    carrier_id      text,
    tried_carriers  text[]      NOT NULL DEFAULT '{}',
    status          text        NOT NULL,
    tracking_number text,
    deadline_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_order ON shipments (order_id);
