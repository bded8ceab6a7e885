-- Why: shared/sql/0004_analyze_less.sql. Document columns nobody filters on get no statistics; tables that only
-- grow, read by key, are analyzed when they grew by half.
ALTER TABLE orders ALTER COLUMN saga SET STATISTICS 0, ALTER COLUMN customer SET STATISTICS 0,
    ALTER COLUMN shipping_address SET STATISTICS 0, ALTER COLUMN payment SET STATISTICS 0,
    SET (autovacuum_analyze_scale_factor = 0.5);
ALTER TABLE order_timeline ALTER COLUMN reason SET STATISTICS 0, ALTER COLUMN shipments SET STATISTICS 0,
    SET (autovacuum_analyze_scale_factor = 0.5);
ALTER TABLE order_lines SET (autovacuum_analyze_scale_factor = 0.5);
