-- 007: a submit writes one row (issue 12). Until 006 every submit also wrote a
-- `received` event: the channel as actor, the request's created_at, status
-- open, an empty detail. Everything in it is in the request row already, and
-- never changes there (channel and created_at are written once); that second
-- row and its index entries were a sixth of a submit's instructions. Since 007
-- the store writes a `received` event only when something must point at it:
-- the photos sent with the request (attachments.event_id). Everyone who reads
-- a request's history reads this view, which adds the receipt from the request
-- row when no `received` event is stored (old databases keep theirs, so no
-- request is told twice). id is NULL for the receipt read from the row, and it
-- sorts first, as the receipt always came first.
CREATE VIEW timeline(id, request_id, at, actor, kind, from_status, to_status, detail) AS
    SELECT id, request_id, at, actor, kind, from_status, to_status, detail FROM events
    UNION ALL
    SELECT NULL, r.id, r.created_at, 'channel:' || r.channel, 'received', NULL, 'open', '{}'
      FROM requests r
     WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.request_id = r.id AND e.kind = 'received');
