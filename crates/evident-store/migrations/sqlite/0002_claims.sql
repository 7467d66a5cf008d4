-- Schema 2: claims, the leases agents take on items. One row per claimed item; a row whose
-- lease has ended is free to be taken over.
CREATE TABLE claims (
    item       TEXT PRIMARY KEY,
    agent      TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    -- Lease end, milliseconds since the Unix epoch (compared), and as RFC 3339 (shown).
    expires_ms INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
