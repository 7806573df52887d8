-- 001_init.sql: the first schema of bianmin.
-- Times are integer milliseconds since the Unix epoch, UTC. Text is UTF-8.
-- The broker is the only writer; it applies this file inside one transaction and
-- sets PRAGMA user_version = 1.

-- Webhook destinations: per-request callback URLs and (later) subscriptions.
CREATE TABLE endpoints (
    id          INTEGER PRIMARY KEY,
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,            -- whsec_<base64>
    old_secret  TEXT,                        -- during a rotation, the previous secret ...
    old_until   INTEGER,                     -- ... still signed with until this time
    kind        TEXT    NOT NULL CHECK (kind IN ('callback', 'subscription')),
    name        TEXT,                        -- a subscription's name (office, water_company); a callback's channel
    events      TEXT,                        -- a subscription's filter: comma separated types, NULL = all
    department  TEXT,                        -- a department subscription gets escalations to it
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX endpoints_callback ON endpoints(url, name) WHERE kind = 'callback';
CREATE UNIQUE INDEX endpoints_subscription ON endpoints(name) WHERE kind = 'subscription';

-- Volunteers of the service station, as they introduced themselves in hello.
CREATE TABLE volunteers (
    id          TEXT    PRIMARY KEY,         -- chosen by the station, e.g. v01
    name        TEXT    NOT NULL,            -- display name, e.g. 袁建成
    skills      TEXT    NOT NULL,            -- comma separated categories
    max_jobs    INTEGER NOT NULL DEFAULT 1,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);

-- One resident request. status is the state machine's current state; the
-- history is in events.
CREATE TABLE requests (
    id           INTEGER PRIMARY KEY,        -- the ticket number
    channel      TEXT    NOT NULL,
    ref          TEXT,                       -- the channel's idempotency key
    category     TEXT    NOT NULL,
    priority     INTEGER NOT NULL,           -- higher is more urgent
    building     TEXT    NOT NULL,
    unit         TEXT    NOT NULL DEFAULT '',
    contact      TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    endpoint_id  INTEGER REFERENCES endpoints(id),
    status       TEXT    NOT NULL CHECK (status IN
                   ('open', 'claimed', 'done', 'escalated', 'resolved', 'cancelled')),
    volunteer_id TEXT    REFERENCES volunteers(id),
    lease_until  INTEGER,                    -- when a claim lapses unless renewed
    attempts     INTEGER NOT NULL DEFAULT 0, -- claims that ended without done
    department   TEXT,                       -- where it was escalated to
    offer_due_at INTEGER,                    -- open and unclaimed past this: overdue
    deadline_at  INTEGER NOT NULL,           -- service-level deadline for done
    overdue      INTEGER NOT NULL DEFAULT 0, -- bit 1: unclaimed too long; bit 2: past deadline
    rating       INTEGER CHECK (rating BETWEEN 1 AND 5), -- the requester's latest rating
    rated_at     INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    claimed_at   INTEGER,
    done_at      INTEGER
);
CREATE UNIQUE INDEX requests_channel_ref ON requests(channel, ref) WHERE ref IS NOT NULL;
-- The dispatcher's scan: open requests, most urgent first, then oldest.
CREATE INDEX requests_queue ON requests(status, priority DESC, created_at, id);
CREATE INDEX requests_volunteer ON requests(volunteer_id, status) WHERE volunteer_id IS NOT NULL;
CREATE INDEX requests_lease ON requests(lease_until) WHERE status = 'claimed';
CREATE INDEX requests_created ON requests(created_at);
CREATE INDEX requests_status_created ON requests(status, created_at); -- list --status
-- The overdue sweeps: only rows that can still become overdue are indexed.
CREATE INDEX requests_offer_due ON requests(offer_due_at) WHERE status = 'open' AND (overdue & 1) = 0;
CREATE INDEX requests_deadline ON requests(deadline_at)
    WHERE status IN ('open', 'claimed') AND (overdue & 2) = 0;

-- The audit trail: one row per thing that happened to a request. Append-only.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,            -- e.g. channel:building_leader, volunteer:v01, system
    kind        TEXT    NOT NULL,            -- received, claimed, completed, ...
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT                         -- JSON object, e.g. {"note": "..."}
);
CREATE INDEX events_request ON events(request_id, id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Transactional outbox: one row per notice to one endpoint, written in the same
-- transaction as the event that caused it. The notifier sends; the broker
-- records each attempt and decides what happens next.
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY,
    msg_id      TEXT    NOT NULL UNIQUE,     -- webhook-id, stable across retries
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
    request_id  INTEGER REFERENCES requests(id),
    event_id    INTEGER REFERENCES events(id),
    type        TEXT    NOT NULL,            -- request.received, ...
    body        TEXT    NOT NULL,            -- the exact JSON payload that is signed
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,            -- due time; also the lease of a taken delivery
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    done_at     INTEGER
);
CREATE INDEX deliveries_due ON deliveries(next_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_order ON deliveries(endpoint_id, request_id, id) WHERE state = 'pending';
CREATE INDEX deliveries_request ON deliveries(request_id);

-- Every attempt the notifier reported.
CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    at          INTEGER NOT NULL,
    status      INTEGER,                     -- HTTP status, NULL if none
    latency_ms  INTEGER,
    error       TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, id);

-- Photos of a case (before / after), stored content-addressed in the archive
-- folder; each row ties one to the event (progress or done) that brought it.
CREATE TABLE attachments (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    event_id    INTEGER NOT NULL REFERENCES events(id),
    sha256      TEXT    NOT NULL,
    mime        TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    kind        TEXT,                        -- before, after, other
    name        TEXT,                        -- the file name the volunteer gave
    created_at  INTEGER NOT NULL
);
CREATE INDEX attachments_request ON attachments(request_id, id);
