-- The saga is the order service's own document, written and read whole by it alone: kept as the text it wrote (the
-- server no longer parses it into jsonb at every step and prints it back at every read). lz4 where it is compressed:
-- cheaper than the default pglz.
ALTER TABLE orders ALTER COLUMN saga TYPE text USING saga::text;
ALTER TABLE orders ALTER COLUMN saga SET STATISTICS 0, ALTER COLUMN saga SET COMPRESSION lz4;
