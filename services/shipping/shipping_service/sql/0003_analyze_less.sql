-- Why: shared/sql/0004_analyze_less.sql. Document columns nobody filters on get no statistics; tables that only
-- grow, read by key, are analyzed when they grew by half.
ALTER TABLE shipments ALTER COLUMN ship_to SET STATISTICS 0, ALTER COLUMN parcels SET STATISTICS 0,
    SET (autovacuum_analyze_scale_factor = 0.5);
