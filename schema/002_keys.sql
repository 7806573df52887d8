-- 002_keys.sql: authentication. Every peer of the broker holds a CURVE key;
-- the registry says what role each public key has. The secret half of a key
-- is never stored here (only the broker's own, in its key file).

CREATE TABLE keys (
    public_key  TEXT    PRIMARY KEY,         -- Z85, 40 characters
    role        TEXT    NOT NULL,            -- office | notifier | gateway | channel:<name> | volunteer:<id>
    name        TEXT    NOT NULL DEFAULT '', -- who holds it, for people (袁建成, 3栋楼栋长)
    skills      TEXT    NOT NULL DEFAULT '', -- a volunteer's categories, comma separated
    max_jobs    INTEGER NOT NULL DEFAULT 1,  -- a volunteer's most jobs at once
    acts_for    TEXT    NOT NULL DEFAULT '', -- a gateway's roles it may act as, comma separated
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,            -- the role that registered it (or 'system')
    revoked_at  INTEGER,                     -- set once; a revoked key never comes back
    revoked_by  TEXT
);
CREATE INDEX keys_role ON keys(role) WHERE revoked_at IS NULL;

-- Things done to the system rather than to a request (keys, users): append-only.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,                -- office, system, ...
    action  TEXT    NOT NULL,                -- key_registered, key_revoked, ...
    subject TEXT    NOT NULL,                -- e.g. the key's role and public key
    detail  TEXT    NOT NULL DEFAULT '{}'    -- JSON
);

-- A taken delivery is leased to the notifier key that took it; only that key
-- may report its result.
ALTER TABLE deliveries ADD COLUMN leased_to TEXT;
