-- Schema 3: evidence added from the CLI, immutable sign-offs, and the gate result cache (the
-- same as SQLite's 0003_gates.sql).
CREATE TABLE evidence (
    seq   BIGSERIAL PRIMARY KEY,
    item  TEXT COLLATE "C" NOT NULL,
    spec  TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX evidence_item ON evidence (item, seq);

CREATE TABLE signoffs (
    seq            BIGSERIAL PRIMARY KEY,
    item           TEXT COLLATE "C" NOT NULL,
    -- 'signoff', or 'review' (a reviewer's gaps: sign-offs before it no longer count)
    kind           TEXT COLLATE "C" NOT NULL DEFAULT 'signoff',
    role           TEXT COLLATE "C" NOT NULL,
    actor          TEXT COLLATE "C" NOT NULL,
    at             TEXT COLLATE "C" NOT NULL,
    correlation_id TEXT COLLATE "C" NOT NULL,
    note           TEXT COLLATE "C"
);
CREATE INDEX signoffs_item ON signoffs (item, seq);
CREATE FUNCTION signoffs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sign-offs are immutable';
END;
$$;
CREATE TRIGGER signoffs_no_change BEFORE UPDATE OR DELETE ON signoffs
    FOR EACH ROW EXECUTE FUNCTION signoffs_immutable();
CREATE TRIGGER signoffs_no_truncate BEFORE TRUNCATE ON signoffs
    FOR EACH STATEMENT EXECUTE FUNCTION signoffs_immutable();

CREATE TABLE gate_cache (
    item         TEXT COLLATE "C" NOT NULL,
    gate         TEXT COLLATE "C" NOT NULL,
    input_key    TEXT COLLATE "C" NOT NULL,
    result       TEXT COLLATE "C" NOT NULL,
    evaluated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (item, gate)
);
