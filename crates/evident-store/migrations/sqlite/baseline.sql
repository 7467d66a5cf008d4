-- The whole schema at version 9, for a new store: what migrations 0001 to 0009 build, written
-- as one script (replaying them re-parses the schema at every ALTER and rebuilds the journal
-- table; a new store's schema took about 8 ms that way, about 3 ms this way). Existing stores
-- are upgraded by the migrations alone, and a test checks that this script and the migrations
-- build the same tables, columns, indexes and triggers. When migration 0010 is added, new
-- stores run it after this script until the script is brought up to date with it.
-- New stores are not built by running this script but written from baseline.img, the file it
-- builds (kept as its non-zero bytes): after any change here, write that file again with
-- `EVIDENT_BLESS=1 cargo test -p evident-store the_new_store_image` (a test fails until then).


CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- What each checkout last saw of each document (the incremental index's memory).
CREATE TABLE files (
    checkout TEXT NOT NULL,
    path     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash     BLOB NOT NULL,
    broken   INTEGER NOT NULL DEFAULT 0,
    recheck  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (checkout, path)
) WITHOUT ROWID;

-- One row per work item: content from its file, `status` is the effective (merged) status.
-- `blocked` (status `blocked`, or waiting on a dependency that is not terminal or not known) is
-- kept current by every transaction that changes a status or a dependency, so `status` and
-- `ready` read it from an index. `priority_rank` is 1000000 when there is no priority. How many
-- items have each kind, status and lane is kept in `item_counts` (schema 8).
CREATE TABLE items (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_rank   INTEGER,
    terminal      INTEGER NOT NULL DEFAULT 0,
    blocked       INTEGER NOT NULL DEFAULT 0,
    priority      TEXT,
    priority_rank INTEGER NOT NULL,
    parent        TEXT,
    lane          TEXT,
    owner         TEXT,
    labels        TEXT NOT NULL,
    depends_on    TEXT NOT NULL,
    checkout      TEXT NOT NULL,
    path          TEXT NOT NULL,
    line          INTEGER NOT NULL,
    fields        TEXT NOT NULL,
    sections      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    -- The lines of the `parent` and `depends_on` fields (schema 6), NULL where not written out.
    parent_line   INTEGER,
    depends_line  INTEGER
);
CREATE INDEX items_open ON items (blocked, priority_rank, id, status_rank) WHERE terminal = 0;
CREATE INDEX items_parent ON items (parent) WHERE parent IS NOT NULL;

-- How many items have each (kind, status, rank, terminal, lane), for `status` (schema 8; see
-- migration 0008): rank -1 is none, lane char(0) none. Kept current by TEMP triggers that
-- every transaction writing items creates first (`COUNT_TRIGGERS` in sqlite.rs).
CREATE TABLE item_counts (
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    status_rank INTEGER NOT NULL,
    terminal    INTEGER NOT NULL,
    lane        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (kind, status, status_rank, terminal, lane)
) WITHOUT ROWID;

-- Per checkout, the canonical status each item's file carried when that checkout last read it:
-- how a stale file is told from an edited one (docs/truth-model.md).
CREATE TABLE item_sources (
    checkout    TEXT NOT NULL,
    id          TEXT NOT NULL,
    path        TEXT NOT NULL,
    line        INTEGER NOT NULL,
    file_status TEXT,
    -- 1 when file_status differs from the item's effective status: kept current by every
    -- transaction that changes either, so `check` reads only the drifted rows.
    drifted     INTEGER NOT NULL DEFAULT 0,
    -- The line of the document's status value (schema 9), NULL where it writes none.
    status_line INTEGER,
    -- Keyed by the item first (schema 7): lookups by id alone read the key.
    PRIMARY KEY (id, checkout)
) WITHOUT ROWID;
CREATE INDEX item_sources_path ON item_sources (checkout, path, line);
CREATE INDEX item_sources_drifted ON item_sources (checkout) WHERE drifted = 1;

CREATE TABLE deps (
    item TEXT NOT NULL,
    dep  TEXT NOT NULL,
    PRIMARY KEY (item, dep)
) WITHOUT ROWID;
CREATE INDEX deps_dep ON deps (dep);

-- The journal: append-only, enforced by triggers.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    item           TEXT NOT NULL,
    action         TEXT NOT NULL,
    from_status    TEXT,
    to_status      TEXT,
    actor          TEXT NOT NULL,
    machine        TEXT NOT NULL,
    source         TEXT NOT NULL,
    reason         TEXT,
    correlation_id TEXT NOT NULL,
    at             TEXT NOT NULL
);
CREATE INDEX events_item ON events (item, seq);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

-- Diagnostics: `scope` is 'file' (found parsing one document) or 'graph' (across items).
CREATE TABLE diagnostics (
    checkout TEXT NOT NULL,
    path     TEXT NOT NULL,
    line     INTEGER NOT NULL,
    code     TEXT NOT NULL,
    severity TEXT NOT NULL,
    item     TEXT,
    message  TEXT NOT NULL,
    hint     TEXT NOT NULL,
    scope    TEXT NOT NULL
);
CREATE INDEX diagnostics_source ON diagnostics (checkout, path);

-- Sequential id allocation for `evident new` (id_scheme = "sequential").
CREATE TABLE id_counters (
    prefix TEXT PRIMARY KEY,
    next   INTEGER NOT NULL
);

-- Repositories registered with `evident repo add`, for `check --all` / `fix --all`.
CREATE TABLE repos (
    slug TEXT PRIMARY KEY,
    path TEXT NOT NULL
);

-- Documents a `fix` is writing statuses back into, recorded before the first file is written
-- and cleared after the commit: a `fix` that dies in between is completed by the next one.
CREATE TABLE pending_writeback (
    checkout TEXT NOT NULL,
    path     TEXT NOT NULL,
    PRIMARY KEY (checkout, path)
) WITHOUT ROWID;

-- Claims (schema 2), the leases agents take on items. One row per claimed item; a row whose
-- lease has ended is free to be taken over.
CREATE TABLE claims (
    item       TEXT PRIMARY KEY,
    agent      TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    -- Lease end, milliseconds since the Unix epoch (compared), and as RFC 3339 (shown).
    expires_ms INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);

-- What gates need (schema 3) from the store. Evidence added with `evident evidence add` (items
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
