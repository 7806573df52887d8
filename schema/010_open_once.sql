-- 010: an open request is indexed once (issue 12). requests_status_created
-- held every request, so the open ones were in it and in
-- requests_open_category (the dispatcher's queue) both: every submit entered
-- two indexes for the same fact, and every claim took the entry out of both.
-- It now holds only the requests that left the queue; the open ones are read
-- from requests_open_category (a scan of the open requests only, never of
-- the years). A time range of requests reads one range per status here plus
-- the open requests there (lib/lifecycle.h BM_SQL_IDS_CREATED). Measured with
-- callgrind: ~4,800 instructions of ~70,000 per submit.
DROP INDEX IF EXISTS requests_status_created;
CREATE INDEX requests_status_created ON requests(status, created_at) WHERE status <> 'open';
