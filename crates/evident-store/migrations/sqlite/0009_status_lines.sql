-- Schema 9: where each checkout's document writes the item's status. `check` reports a document
-- that lags or leads the store at the line of its status value, the line `fix` rewrites; it had
-- only the item's first line (a frontmatter's opening `---`, a task block's fence) for documents
-- indexed while drifted. NULL where the document writes no status, and for rows indexed before
-- this schema (until their document is read again): findings then fall back to the item's line.
ALTER TABLE item_sources ADD COLUMN status_line INTEGER;
