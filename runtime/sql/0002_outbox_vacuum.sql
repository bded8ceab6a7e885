-- The outbox is a queue: every row is deleted once relayed. Vacuumed only at the default 20% of the table, its
-- dead rows piled up under the relay's `ORDER BY id` claim and made each claim read them all again.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
                        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
                        autovacuum_analyze_threshold = 2000);
