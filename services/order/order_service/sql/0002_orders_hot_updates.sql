-- An order's row is rewritten at every step of its saga. With an index on `status` each rewrite added an entry to
-- every index of the table (and vacuum had to clean them all up); no query used it (the operator's listing by
-- status sorts by creation anyway). Without it, and with room left on each page, a step that leaves the deadline
-- alone rewrites the row in place (a HOT update: no index touched).
DROP INDEX orders_status;
ALTER TABLE orders SET (fillfactor = 70);
