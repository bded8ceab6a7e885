-- The money trail: an invoice per capture (a shipment handed over) and a credit note per refund, each the request
-- as it was sent; numbered per channel and kind without gaps, in the order they were issued, by the numbering round.
CREATE TABLE documents (
    document_id text PRIMARY KEY,  -- the capture's or refund's message id
    channel     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number      bigint,            -- null until numbered
    order_id    text NOT NULL,
    shipment_id text,
    return_id   text,
    amount      numeric NOT NULL CHECK (amount >= 0),
    currency    text NOT NULL,
    body        jsonb NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, kind, number)
);
CREATE INDEX documents_unnumbered ON documents (issued_at) WHERE number IS NULL;
CREATE INDEX documents_of_order ON documents (order_id);
CREATE INDEX documents_by_day ON documents (issued_at);
