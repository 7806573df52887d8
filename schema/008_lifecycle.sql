-- 008_lifecycle.sql: the overdue sweeps share one index (issue 12).
-- requests_offer_due and requests_deadline were both entered by every new open
-- request, and a claim deleted the one entry and rewrote the other. due_at is
-- the earlier of the times at which the request can still become overdue: its
-- offer time while it is open and not yet marked unclaimed-too-long (bit 1),
-- its deadline while it is open or claimed and not yet marked past-deadline
-- (bit 2); NULL when neither can happen any more. It is computed by SQLite from
-- the row (a virtual generated column: nothing stores it, nothing can let it
-- drift from the columns it is made of), and only its index holds it. The
-- sweep (Q_OVERDUE_DUE) reads the index from its start up to now; marking a
-- kind moves the row's due_at on to the other kind's time or out of the index,
-- so each kind is marked once and an idle broker reads nothing.
-- 005 edited the table's definition through writable_schema; a connection
-- that ran it still holds the old parse, and ADD COLUMN would splice the new
-- column into the new text at the old text's offset. RESET re-reads it.
PRAGMA writable_schema = RESET;
ALTER TABLE requests ADD COLUMN due_at INTEGER GENERATED ALWAYS AS (
    CASE WHEN status = 'open' AND (overdue & 1) = 0 AND offer_due_at IS NOT NULL
              AND ((overdue & 2) != 0 OR offer_due_at < deadline_at) THEN offer_due_at
         WHEN (status = 'open' OR status = 'claimed') AND (overdue & 2) = 0 THEN deadline_at
    END) VIRTUAL;
CREATE INDEX requests_due ON requests(due_at) WHERE due_at IS NOT NULL;
DROP INDEX IF EXISTS requests_offer_due;
DROP INDEX IF EXISTS requests_deadline;
