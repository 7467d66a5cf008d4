-- Schema 8: `status` reads its counts from a table of counts instead of an index of every item.
-- Its counts by kind and status, and of open items by lane, came from scans of two indexes that
-- held a row per item (`items_kind_status`, `items_lane`): 20 ms of a 30 ms `status --json` at
-- 100k items. And those two indexes had the most expensive sorted builds of a first index (a
-- third of its index time at 100k): their keys take few values, so nearly every comparison of
-- the sort ran through every column. `item_counts` holds one row per (kind, status, rank,
-- terminal, lane) that occurs, with how many items have it. A row whose count falls to 0 stays
-- (queries skip it): the rows are bounded by the combinations ever seen. The key has no NULLs
-- (a key with a NULL is never a duplicate, so it could not be added to): an unknown status's
-- missing rank is -1, and a missing lane char(0).
--
-- The triggers that keep it current are not part of the schema: every connection parses the
-- whole schema when it first reads, and three triggers cost every command, readers included,
-- about 0.07 ms. A transaction that writes items creates them first, as TEMP triggers of its
-- connection (`COUNT_TRIGGERS` in sqlite.rs); a first load counts in memory instead.
CREATE TABLE item_counts (
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    terminal    INTEGER NOT NULL,
    lane        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (kind, status, status_rank, terminal, lane)
) WITHOUT ROWID;
INSERT INTO item_counts
    SELECT kind, status, ifnull(status_rank, -1), terminal, ifnull(lane, char(0)), COUNT(*)
    FROM items GROUP BY 1, 2, 3, 4, 5;

DROP INDEX items_kind_status;
DROP INDEX items_lane;
