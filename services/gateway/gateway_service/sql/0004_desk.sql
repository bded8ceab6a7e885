-- The customer-service desk: its agents (a role each; a password hash or none), the one-time login links and the
-- signed-in sessions (kept as hashes: a leaked row signs no one in), the notifications each order was sent (kind and
-- medium: no one's address), and a keyed hash of the customer's name (agents find orders by it; nobody reads it back).
CREATE TABLE agents (
    name          text PRIMARY KEY,
    role          text        NOT NULL CHECK (role IN ('agent', 'supervisor')),
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_logins (
    token_hash text PRIMARY KEY,
    agent      text        NOT NULL REFERENCES agents (name) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE TABLE agent_sessions (
    token_hash text PRIMARY KEY,
    agent      text        NOT NULL REFERENCES agents (name) ON DELETE CASCADE,
    csrf       text        NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_sessions_expires ON agent_sessions (expires_at);

CREATE TABLE order_notifications (
    notification_id text PRIMARY KEY,
    order_id        text        NOT NULL,
    kind            text        NOT NULL,
    medium          text        NOT NULL,
    shipment_id     text,
    requested_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_notifications_order ON order_notifications (order_id);

ALTER TABLE contact_hashes ADD COLUMN name_hash text;
CREATE INDEX contact_hashes_name ON contact_hashes (name_hash) WHERE name_hash IS NOT NULL;
