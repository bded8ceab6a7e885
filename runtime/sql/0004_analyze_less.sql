-- Statistics cost and buy little here: autovacuum's analyze of a large table, every time it grew by a tenth, was
-- what made the worst second of a steady run slow (p99 to released 258-296 ms with it, 198-208 ms with analyze off,
-- three runs each). Document columns nobody filters on get no statistics (a manual ANALYZE of orders: 504 -> 231 ms),
-- and tables that only grow, read by key, are analyzed when they grew by half.
ALTER TABLE outbox ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN headers SET STATISTICS 0;
ALTER TABLE inbox SET (autovacuum_analyze_scale_factor = 0.5);
