-- Schema 4: nothing to change here. SQLite's 0004 takes AUTOINCREMENT off the journal's
-- sequence; a BIGSERIAL has no such per-insert cost. Kept so that schema N names the same
-- tables on both backends.
SELECT 1;
