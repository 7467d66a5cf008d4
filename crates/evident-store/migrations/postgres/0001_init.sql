-- Evident hub store on PostgreSQL, schema 1: the same tables and meaning as the SQLite store's
-- schema 1 (migrations/sqlite/0001_init.sql), in PostgreSQL's types. Numbered and append-only:
-- never edit a released migration; add a new one. Text columns use the "C" collation so ids,
-- paths and titles sort byte-wise, exactly as in SQLite, whatever the database's locale.

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE files (
    checkout TEXT COLLATE "C" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    size     BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    hash     BYTEA NOT NULL,
    broken   BOOLEAN NOT NULL DEFAULT FALSE,
    recheck  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (checkout, path)
);

CREATE TABLE items (
    id            TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT COLLATE "C" NOT NULL,
    title         TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    status_rank   BIGINT,
    terminal      BOOLEAN NOT NULL DEFAULT FALSE,
    blocked       BOOLEAN NOT NULL DEFAULT FALSE,
    priority      TEXT COLLATE "C",
    priority_rank BIGINT NOT NULL,
    parent        TEXT COLLATE "C",
    lane          TEXT COLLATE "C",
    owner         TEXT COLLATE "C",
    labels        TEXT COLLATE "C" NOT NULL,
    depends_on    TEXT COLLATE "C" NOT NULL,
    checkout      TEXT COLLATE "C" NOT NULL,
    path          TEXT COLLATE "C" NOT NULL,
    line          BIGINT NOT NULL,
    fields        TEXT COLLATE "C" NOT NULL,
    sections      TEXT COLLATE "C" NOT NULL,
    content_hash  TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX items_kind_status ON items (kind, status, status_rank);
CREATE INDEX items_open ON items (terminal, blocked, priority_rank, id);
CREATE INDEX items_lane ON items (terminal, lane);
CREATE INDEX items_parent ON items (parent);
CREATE INDEX items_source ON items (checkout, path);

CREATE TABLE item_sources (
    checkout    TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    line        BIGINT NOT NULL,
    file_status TEXT COLLATE "C",
    drifted     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (checkout, id)
);
CREATE INDEX item_sources_path ON item_sources (checkout, path, line);
CREATE INDEX item_sources_id ON item_sources (id);
CREATE INDEX item_sources_drifted ON item_sources (checkout) WHERE drifted;

CREATE TABLE deps (
    item TEXT COLLATE "C" NOT NULL,
    dep  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (item, dep)
);
CREATE INDEX deps_dep ON deps (dep);

-- The journal: append-only, enforced by a trigger.
CREATE TABLE events (
    seq            BIGSERIAL PRIMARY KEY,
    item           TEXT COLLATE "C" NOT NULL,
    action         TEXT COLLATE "C" NOT NULL,
    from_status    TEXT COLLATE "C",
    to_status      TEXT COLLATE "C",
    actor          TEXT COLLATE "C" NOT NULL,
    machine        TEXT COLLATE "C" NOT NULL,
    source         TEXT COLLATE "C" NOT NULL,
    reason         TEXT COLLATE "C",
    correlation_id TEXT COLLATE "C" NOT NULL,
    at             TEXT COLLATE "C" NOT NULL
);
CREATE INDEX events_item ON events (item, seq);
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only';
END;
$$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE diagnostics (
    checkout TEXT COLLATE "C" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    line     BIGINT NOT NULL,
    code     TEXT COLLATE "C" NOT NULL,
    severity TEXT COLLATE "C" NOT NULL,
    item     TEXT COLLATE "C",
    message  TEXT COLLATE "C" NOT NULL,
    hint     TEXT COLLATE "C" NOT NULL,
    scope    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX diagnostics_source ON diagnostics (checkout, path);
CREATE INDEX diagnostics_item ON diagnostics (item);

CREATE TABLE id_counters (
    prefix TEXT COLLATE "C" PRIMARY KEY,
    next   BIGINT NOT NULL
);

CREATE TABLE repos (
    slug TEXT COLLATE "C" PRIMARY KEY,
    path TEXT COLLATE "C" NOT NULL
);

CREATE TABLE pending_writeback (
    checkout TEXT COLLATE "C" NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (checkout, path)
);
