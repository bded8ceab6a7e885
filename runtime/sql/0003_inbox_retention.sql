-- The inbox forgets what it handled long ago (`inbox.prune`, run by every service). A BRIN index finds the old rows:
-- rows are appended in time order, so a few bytes per 128 pages summarise it, and inserts barely notice it (a btree
-- on processed_at would cost every claim another index write).
CREATE INDEX inbox_processed_at ON inbox USING brin (processed_at) WITH (autosummarize = on);
