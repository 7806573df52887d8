-- 006_queries.sql: the office's queries read what the month needs, not the years.
-- Each index is chosen for one query; every index on requests costs on every
-- submit, so only one is added there. The two on events are partial: the
-- received event that every submit writes enters neither.

-- `list --building`: the buildings whose name holds the text are found by
-- stepping through the distinct names (one seek each), then each building's
-- newest requests and its count are read from here, index only.
CREATE INDEX requests_building ON requests(building, created_at);

-- `stats --month`: the requests with an event in the month that the figures
-- count (done, resolved, escalated, cancelled, reopened), and for the 12-month
-- trend the completions per month, index only, one range per kind. Also the
-- requests finished after a past month's end (their status then is read from
-- their events).
-- The condition is written as equalities, not `kind IN (...)`: SQLite builds a
-- temporary b-tree for an IN list each time it tests one (on every event
-- written), a few comparisons otherwise (see 005_hotpath.sql). Queries repeat
-- it word for word (lib/stats_load.c MONTH_KINDS) so that SQLite uses the index.
CREATE INDEX events_month ON events(kind, at, request_id)
    WHERE kind = 'completed' OR kind = 'resolved' OR kind = 'escalated' OR kind = 'cancelled'
       OR kind = 'reopened';

-- `stats --month` trend: the latest rating of the requests done in a month,
-- merged by request id. Written only when a resident rates.
CREATE INDEX events_rated ON events(request_id, at) WHERE kind = 'rated';
