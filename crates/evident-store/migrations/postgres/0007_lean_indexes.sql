-- Schema 7: as on SQLite, the indexes of open work hold open items only, the children index
-- only items with a parent, and `items_kind_status` carries `terminal` for the count of
-- finished items.
DROP INDEX items_kind_status;
CREATE INDEX items_kind_status ON items (kind, status, status_rank) INCLUDE (terminal);
DROP INDEX items_open;
CREATE INDEX items_open ON items (blocked, priority_rank, id) INCLUDE (status_rank) WHERE NOT terminal;
DROP INDEX items_lane;
CREATE INDEX items_lane ON items (lane) WHERE NOT terminal;
DROP INDEX items_parent;
CREATE INDEX items_parent ON items (parent) WHERE parent IS NOT NULL;

-- Each checkout's source of an item is keyed by the item first, so lookups by id alone read
-- the key and the separate `item_sources_id` index goes.
ALTER TABLE item_sources DROP CONSTRAINT item_sources_pkey;
ALTER TABLE item_sources ADD PRIMARY KEY (id, checkout);
DROP INDEX item_sources_id;

-- The items a document holds are found through the sources' (checkout, path) index.
DROP INDEX items_source;
