-- Delivery slots: what each carrier's window in each zone has given out (never more than its capacity: the row is
-- locked and its count checked by whoever claims), and which order holds which window (given back on cancel).
CREATE TABLE delivery_slots (
    carrier_id text        NOT NULL,
    zone       text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    claimed    integer     NOT NULL CHECK (claimed >= 0),
    PRIMARY KEY (carrier_id, zone, starts_at)
);
CREATE TABLE slot_claims (
    order_id   text PRIMARY KEY,
    carrier_id text        NOT NULL,
    zone       text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL
);
