-- Why: shared/sql/0004_analyze_less.sql. Document columns nobody filters on get no statistics; tables that only
-- grow, read by key, are analyzed when they grew by half.
ALTER TABLE notifications ALTER COLUMN body SET STATISTICS 0, ALTER COLUMN subject SET STATISTICS 0,
    SET (autovacuum_analyze_scale_factor = 0.5);
ALTER TABLE contacts SET (autovacuum_analyze_scale_factor = 0.5);
