-- What each channel was last told it may sell of each SKU: a change is published only when the number moves.
CREATE TABLE availability (
    sku        text        NOT NULL,
    channel    text        NOT NULL,
    available  integer     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, channel)
);
