-- Schema 6: the lines of an item's `parent` and `depends_on` fields, as on SQLite.
ALTER TABLE items ADD COLUMN parent_line BIGINT;
ALTER TABLE items ADD COLUMN depends_line BIGINT;
