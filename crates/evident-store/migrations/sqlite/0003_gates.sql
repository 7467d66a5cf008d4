-- Schema 3: what gates need from the store. Evidence added with `evident evidence add` (items
-- may also declare evidence in their files), sign-offs (immutable, like the journal), and the
-- gate result cache, keyed by everything an evaluation reads, so unchanged inputs are never
-- re-evaluated and no file is ever rewritten to hold a cache.
CREATE TABLE evidence (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    item  TEXT NOT NULL,
    spec  TEXT NOT NULL,
    actor TEXT NOT NULL,
    at    TEXT NOT NULL
);
CREATE INDEX evidence_item ON evidence (item, seq);

CREATE TABLE signoffs (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    item           TEXT NOT NULL,
    -- 'signoff', or 'review' (a reviewer's gaps: sign-offs before it no longer count)
    kind           TEXT NOT NULL DEFAULT 'signoff',
    role           TEXT NOT NULL,
    actor          TEXT NOT NULL,
    at             TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    note           TEXT
);
CREATE INDEX signoffs_item ON signoffs (item, seq);
CREATE TRIGGER signoffs_no_update BEFORE UPDATE ON signoffs
BEGIN SELECT RAISE(ABORT, 'sign-offs are immutable'); END;
CREATE TRIGGER signoffs_no_delete BEFORE DELETE ON signoffs
BEGIN SELECT RAISE(ABORT, 'sign-offs are immutable'); END;

CREATE TABLE gate_cache (
    item         TEXT NOT NULL,
    gate         TEXT NOT NULL,
    input_key    TEXT NOT NULL,
    result       TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    PRIMARY KEY (item, gate)
) WITHOUT ROWID;
