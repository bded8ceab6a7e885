-- Orders with their saga (state name, data, deadline), lines and the timeline of every status change.
CREATE TABLE orders (
    order_id         text PRIMARY KEY,
    channel          text        NOT NULL,
    external_id      text        NOT NULL,
    status           text        NOT NULL,
    saga_state       text        NOT NULL,
    saga             jsonb       NOT NULL,
    sequence         integer     NOT NULL DEFAULT 0,
    deadline_at      timestamptz,
    placed_at        timestamptz,
    currency         text,
    customer         jsonb,
    shipping_address jsonb,
    payment          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_deadline ON orders (deadline_at) WHERE deadline_at IS NOT NULL;

CREATE TABLE order_lines (
    order_id   text    NOT NULL REFERENCES orders,
    line_no    integer NOT NULL,
    sku        text    NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_timeline (
    order_id        text        NOT NULL REFERENCES orders,
    sequence        integer     NOT NULL,
    status          text        NOT NULL,
    previous_status text,
    reason          jsonb,
    shipments       jsonb       NOT NULL DEFAULT '[]',
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (order_id, sequence)
);
