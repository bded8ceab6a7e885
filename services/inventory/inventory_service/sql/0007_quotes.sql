-- The quotes given to channels before their orders (promise.quoted): the plan of each option with its shipments'
-- dates, so an order naming a quote keeps that plan and those dates while stock allows. Forgotten a day after
-- they expire.
CREATE TABLE quotes (
    quote_id      text PRIMARY KEY,
    request_id    text        NOT NULL,
    channel       text        NOT NULL,
    method        text        NOT NULL,
    service_level text        NOT NULL,
    plan          jsonb       NOT NULL,
    promised_by   timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_expiry ON quotes (expires_at);
