-- Why: shared/sql/0004_analyze_less.sql. Document columns nobody filters on get no statistics; tables that only
-- grow, read by key, are analyzed when they grew by half.
ALTER TABLE fulfillments ALTER COLUMN lines SET STATISTICS 0, ALTER COLUMN invoice SET STATISTICS 0,
    SET (autovacuum_analyze_scale_factor = 0.5);
