-- 009: one index fewer on every submit (issue 12). requests_created served
-- two things: the newest-first order of lists, and time ranges of requests
-- (a month's stats and export, --since/--until, Open311's dates). Tickets are
-- numbered in the order requests come in, so lists now go by ticket,
-- newest first; a time range reads requests_status_created, one range per
-- status (the queries say `status IN (every status)`, lib/lifecycle.h
-- BM_SQL_EVERY_STATUS). Measured with callgrind, the index cost ~7,000
-- instructions of ~84,000 per submit.
DROP INDEX IF EXISTS requests_created;
