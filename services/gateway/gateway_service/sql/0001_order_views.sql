-- The order read model: each order as its latest status event shows it, its timeline, and whom it is for (keyed
-- hashes of the customer's e-mail and phone: operators find an order by them, nobody reads them back).
CREATE TABLE order_views (
    order_id       text PRIMARY KEY,
    channel        text        NOT NULL,
    external_id    text        NOT NULL,
    status         text        NOT NULL,
    sequence       integer     NOT NULL,
    reason         jsonb,
    shipments      jsonb       NOT NULL DEFAULT '[]',
    returns        jsonb       NOT NULL DEFAULT '[]',
    tracking_token text        NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- not unique: the ids of a rejected order are kept as far as they can be stored (no NUL, bounded)
CREATE INDEX order_views_channel_ids ON order_views (channel, external_id);

CREATE TABLE order_timeline (
    order_id        text        NOT NULL,
    sequence        integer     NOT NULL,
    status          text        NOT NULL,
    previous_status text,
    reason          jsonb,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (order_id, sequence)
);

CREATE TABLE contact_hashes (
    order_id   text PRIMARY KEY,
    email_hash text NOT NULL,
    phone_hash text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_hashes_email ON contact_hashes (email_hash);
CREATE INDEX contact_hashes_phone ON contact_hashes (phone_hash) WHERE phone_hash IS NOT NULL;
CREATE INDEX contact_hashes_created ON contact_hashes (created_at);
