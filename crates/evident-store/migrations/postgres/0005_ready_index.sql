-- Schema 5: `items_open` also carries `status_rank`, so the ready filter (open, not blocked, a
-- known status) can be answered by an index-only scan, as on SQLite.
DROP INDEX items_open;
CREATE INDEX items_open ON items (terminal, blocked, priority_rank, id) INCLUDE (status_rank);
