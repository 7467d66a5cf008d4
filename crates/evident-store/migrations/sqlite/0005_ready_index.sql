-- Schema 5: `items_open` also holds `status_rank`, so counting and listing ready work (open,
-- not blocked, a known status) reads the index alone instead of looking up every open row in
-- the table (`status` on 100k items: the ready count went from ~50 ms to ~2 ms).
DROP INDEX items_open;
CREATE INDEX items_open ON items (terminal, blocked, priority_rank, id, status_rank);
