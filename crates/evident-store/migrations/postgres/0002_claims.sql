-- Schema 2: claims, the leases agents take on items (the same as SQLite's 0002_claims.sql).
CREATE TABLE claims (
    item       TEXT COLLATE "C" PRIMARY KEY,
    agent      TEXT COLLATE "C" NOT NULL,
    claimed_at TEXT COLLATE "C" NOT NULL,
    -- Lease end, milliseconds since the Unix epoch (compared), and as RFC 3339 (shown).
    expires_ms BIGINT NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);
