-- Schema 6: the lines of an item's `parent` and `depends_on` fields, so a dangling reference
-- (EV114, EV115) points at the line that names it. NULL where the field is not written out,
-- and for rows indexed before this schema until their document is parsed again (the parser's
-- revision changed with it, so the next index pass re-parses every document).
ALTER TABLE items ADD COLUMN parent_line INTEGER;
ALTER TABLE items ADD COLUMN depends_line INTEGER;
