-- The signed requests answered already, by channel and verified digest, shared by every gateway instance and kept
-- across restarts: a request replayed (however its signature is spelled) is refused, not published again.
CREATE TABLE answered_requests (
    replay_key text PRIMARY KEY,
    answer     jsonb       NOT NULL,
    keep_until timestamptz NOT NULL
);
CREATE INDEX answered_requests_keep_until ON answered_requests USING brin (keep_until);
