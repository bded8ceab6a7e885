-- Messages set aside because retrying cannot help: a record whose effect the database refuses the same way every
-- time, a dead letter or an outbox row the broker refuses. The original bytes are kept so an operator can look at
-- them and send them again (`oms dlq list`, `oms dlq replay --parked`); the partition or the relay goes on.
CREATE TABLE parked_messages (
    id            bigserial PRIMARY KEY,
    origin        text        NOT NULL CHECK (origin IN ('consume', 'outbox')),
    consumer      text        NOT NULL,
    topic         text        NOT NULL,  -- consume: where it was read; outbox: where it was to go
    partition     integer,
    "offset"      bigint,
    key           bytea,
    value         bytea,
    header_keys   text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    reason        text        NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz
);
CREATE INDEX parked_messages_waiting ON parked_messages (parked_at) WHERE replayed_at IS NULL;
