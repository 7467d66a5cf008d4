-- Schema 8: `status` reads its counts from a table of counts instead of an index of every item.
-- Its counts by kind and status, and of open items by lane, came from scans of two indexes that
-- held a row per item (`items_kind_status`, `items_lane`): 20 ms of a 30 ms `status --json` at
-- 100k items. And those two indexes had the most expensive sorted builds of a first index (a
-- third of its index time at 100k): their keys take few values, so nearly every comparison of
-- the sort ran through every column. `item_counts` holds one row per (kind, status, rank,
-- terminal, lane) that occurs, with how many items have it; triggers keep it current on every
-- insert, delete and change of those columns. A row whose count falls to 0 stays (queries skip
-- it): the set of rows is bounded by the combinations ever seen.
CREATE TABLE item_counts (
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    status_rank INTEGER,
    terminal    INTEGER NOT NULL,
    lane        TEXT,
    n           INTEGER NOT NULL
);
CREATE INDEX item_counts_key ON item_counts (kind, status, lane);
INSERT INTO item_counts (kind, status, status_rank, terminal, lane, n)
    SELECT kind, status, status_rank, terminal, lane, COUNT(*) FROM items
    GROUP BY kind, status, status_rank, terminal, lane;

-- `changes()` in a trigger's body counts the rows of the statement before it in that body.
CREATE TRIGGER item_counts_insert AFTER INSERT ON items
BEGIN
    UPDATE item_counts SET n = n + 1
     WHERE kind = new.kind AND status = new.status AND lane IS new.lane
       AND status_rank IS new.status_rank AND terminal = new.terminal;
    INSERT INTO item_counts (kind, status, status_rank, terminal, lane, n)
        SELECT new.kind, new.status, new.status_rank, new.terminal, new.lane, 1
         WHERE changes() = 0;
END;
CREATE TRIGGER item_counts_delete AFTER DELETE ON items
BEGIN
    UPDATE item_counts SET n = n - 1
     WHERE kind = old.kind AND status = old.status AND lane IS old.lane
       AND status_rank IS old.status_rank AND terminal = old.terminal;
END;
CREATE TRIGGER item_counts_update AFTER UPDATE OF kind, status, status_rank, terminal, lane ON items
WHEN old.kind IS NOT new.kind OR old.status IS NOT new.status OR old.lane IS NOT new.lane
  OR old.status_rank IS NOT new.status_rank OR old.terminal IS NOT new.terminal
BEGIN
    UPDATE item_counts SET n = n - 1
     WHERE kind = old.kind AND status = old.status AND lane IS old.lane
       AND status_rank IS old.status_rank AND terminal = old.terminal;
    UPDATE item_counts SET n = n + 1
     WHERE kind = new.kind AND status = new.status AND lane IS new.lane
       AND status_rank IS new.status_rank AND terminal = new.terminal;
    INSERT INTO item_counts (kind, status, status_rank, terminal, lane, n)
        SELECT new.kind, new.status, new.status_rank, new.terminal, new.lane, 1
         WHERE changes() = 0;
END;

DROP INDEX items_kind_status;
DROP INDEX items_lane;
