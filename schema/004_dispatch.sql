-- 004: the dispatcher asks per category for the oldest open requests a
-- volunteer has not declined or failed, instead of scanning a fixed window of
-- the whole queue (which starved requests behind ones nobody online could take).
CREATE INDEX requests_open_category ON requests(category, created_at, id) WHERE status = 'open';
-- A volunteer's exclusions (declined, failed), looked up per candidate request.
CREATE INDEX events_exclusion ON events(request_id, actor) WHERE kind IN ('declined', 'failed');
