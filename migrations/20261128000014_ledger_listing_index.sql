-- Finance listings and exports walk the whole ledger (every team) in (created_at, id) order,
-- one keyset page at a time; reconciliation walks a window's flagged entries newest first.
-- Without these indexes each page would sort a month partition.
--
-- CREATE INDEX on the partitioned parent builds every partition's index in this migration's
-- transaction and blocks writes to the ledger meanwhile (seconds per million rows). On a
-- large ledger, build them first without blocking, one partition at a time:
--   CREATE INDEX CONCURRENTLY ON ledger_entries_y2026m11 (created_at, id);
--   CREATE INDEX CONCURRENTLY ON ledger_entries_y2026m11 (created_at, id) WHERE flagged;
-- then this migration only attaches the existing matching indexes, which is instant.
CREATE INDEX ledger_entries_created_id_idx ON ledger_entries (created_at, id);

-- Flagged entries are few; this partial index lets a window's flagged entries be found
-- without reading the others.
CREATE INDEX ledger_entries_flagged_idx ON ledger_entries (created_at, id) WHERE flagged;
