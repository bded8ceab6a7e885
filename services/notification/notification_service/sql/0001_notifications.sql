-- Who to tell (from the order as submitted), and every notification, unique per order, kind and shipment.
CREATE TABLE contacts (
    order_key  text PRIMARY KEY,
    email      text NOT NULL,
    phone      text,
    name       text NOT NULL
);

CREATE TABLE notifications (
    notification_id text PRIMARY KEY,
    order_id        text        NOT NULL,
    kind            text        NOT NULL,
    shipment_id     text        NOT NULL DEFAULT '',
    medium          text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (order_id, kind, shipment_id)
);
CREATE INDEX notifications_unsent ON notifications (created_at) WHERE sent_at IS NULL;
