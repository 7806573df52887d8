-- 003_users.sql: people who log in through bianmin-gateway (the office console,
-- a building leader's phone form). The gateway never opens the database: it
-- asks the broker ("login"), which checks the password here.

CREATE TABLE users (
    login         TEXT    PRIMARY KEY,           -- what they type: ASCII [A-Za-z0-9_.-], 1-64
    name          TEXT    NOT NULL DEFAULT '',   -- for people: 王主任, 3栋楼栋长
    role          TEXT    NOT NULL,              -- office | channel:<name>
    hash          TEXT    NOT NULL,              -- argon2id encoded ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
    disabled      INTEGER NOT NULL DEFAULT 0,    -- 1: cannot log in
    failed        INTEGER NOT NULL DEFAULT 0,    -- wrong passwords since the last good login
    locked_until  INTEGER NOT NULL DEFAULT 0,    -- ms; no login is checked before this (backoff)
    last_login_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
