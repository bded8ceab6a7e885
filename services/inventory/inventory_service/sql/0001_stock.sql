-- Stock per SKU and location, its ledger, and reservations against it.
CREATE TABLE stock (
    sku         text    NOT NULL,
    location_id text    NOT NULL,
    on_hand     integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    inbound     integer NOT NULL DEFAULT 0 CHECK (inbound >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, location_id)
);

-- Every change to on-hand, so counted + adjusted + received - shipped = on hand can be checked.
CREATE TABLE stock_ledger (
    id          bigserial PRIMARY KEY,
    sku         text    NOT NULL,
    location_id text    NOT NULL,
    kind        text    NOT NULL,
    quantity    integer NOT NULL,
    message_id  text    NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inbound_expected (
    id          bigserial PRIMARY KEY,
    sku         text    NOT NULL,
    location_id text    NOT NULL,
    quantity    integer NOT NULL,
    eta         timestamptz NOT NULL
);

CREATE TABLE reservations (
    reservation_id text PRIMARY KEY,
    order_id       text NOT NULL,
    location_id    text NOT NULL,
    status         text NOT NULL CHECK (status IN ('open', 'committed', 'released')),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_order ON reservations (order_id);

CREATE TABLE reservation_lines (
    reservation_id text    NOT NULL REFERENCES reservations,
    sku            text    NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku)
);

-- Orders waiting for stock, served oldest first when stock arrives.
CREATE TABLE backorders (
    order_id   text PRIMARY KEY,
    command    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
