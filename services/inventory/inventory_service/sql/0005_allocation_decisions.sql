-- Every allocation as decided: the plan chosen, the two best others with their scores, and the inputs it was
-- decided on (lines, what the candidate locations had, their distances and scorecards, the destination), so
-- `oms order` shows why and `oms whatif` can decide the same again under other rules.
CREATE TABLE allocation_decisions (
    id           bigserial PRIMARY KEY,
    order_id     text        NOT NULL,
    request_id   text        NOT NULL,
    channel      text,
    chosen       text        NOT NULL,
    plan         jsonb       NOT NULL,
    alternatives jsonb       NOT NULL,
    inputs       jsonb       NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allocation_decisions_order ON allocation_decisions (order_id);
CREATE INDEX allocation_decisions_time ON allocation_decisions (decided_at);
ALTER TABLE allocation_decisions SET (autovacuum_enabled = true);

-- The latest scorecard of each partner (oms.partners.scores.v1): allocation weighs its failure rate.
CREATE TABLE partner_scores (
    partner_id   text PRIMARY KEY,
    failure_rate double precision NOT NULL,
    requests     integer     NOT NULL,
    scored_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
