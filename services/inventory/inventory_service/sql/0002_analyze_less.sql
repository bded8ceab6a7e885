-- Why: shared/sql/0004_analyze_less.sql. Document columns nobody filters on get no statistics; tables that only
-- grow, read by key, are analyzed when they grew by half.
ALTER TABLE backorders ALTER COLUMN command SET STATISTICS 0;
ALTER TABLE reservations SET (autovacuum_analyze_scale_factor = 0.5);
ALTER TABLE reservation_lines SET (autovacuum_analyze_scale_factor = 0.5);
ALTER TABLE stock_ledger SET (autovacuum_analyze_scale_factor = 0.5);
