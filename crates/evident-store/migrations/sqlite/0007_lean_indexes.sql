-- Schema 7: the status board's indexes hold only the rows their queries read. The ready and
-- blocked lists and the lane counts only ever ask for open items (`terminal = 0`), and the
-- children of an item for a parent that is set, so those three indexes leave the other rows
-- out; `items_kind_status` also carries `terminal`, so the count of finished items comes from
-- the same scan as the counts by kind and status. A first index of 100k items builds these
-- indexes in about 60% of the time it took (every index of a new store is built, sorted, once
-- its rows are in), and the store is smaller.
DROP INDEX items_kind_status;
CREATE INDEX items_kind_status ON items (kind, status, status_rank, terminal);
DROP INDEX items_open;
CREATE INDEX items_open ON items (blocked, priority_rank, id, status_rank) WHERE terminal = 0;
DROP INDEX items_lane;
CREATE INDEX items_lane ON items (lane) WHERE terminal = 0;
DROP INDEX items_parent;
CREATE INDEX items_parent ON items (parent) WHERE parent IS NOT NULL;
