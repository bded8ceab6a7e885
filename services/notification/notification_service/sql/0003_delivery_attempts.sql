-- Each notification's own delivery state: a failed send is tried again later (attempts, next_attempt_at, the last
-- error), and one that cannot be delivered (a refused address, too many failures) is marked dead for operators,
-- without holding up the others.
ALTER TABLE notifications
    ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error      text,
    ADD COLUMN dead_at         timestamptz;
DROP INDEX notifications_unsent;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
