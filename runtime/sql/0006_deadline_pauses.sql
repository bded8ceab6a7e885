-- While the broker cannot be reached, deadlines that wait on a partner stand still: the pause starts here (on the
-- database's clock) and, once the broker answers again, every open deadline is moved on by its length.
CREATE TABLE deadline_pauses (
    service text PRIMARY KEY,
    since   timestamptz NOT NULL DEFAULT now()
);
