-- 005: the write path of a submit (issue 12). Measured with callgrind, the
-- status CHECK written as `status IN (six values)` built a temporary b-tree
-- for the list on every INSERT and UPDATE of a request (about 35,000
-- instructions each, a fifth of a submit). The same check, written as
-- equalities, costs a few comparisons. Only the constraint's text changes, not
-- what is stored, so the table is not rebuilt: the definition is edited in
-- place as SQLite documents for removing or changing a CHECK (sqlite.org/
-- lang_altertable.html, "otherchanges"); the store re-opens its connection
-- after a migration so that it reads the new definition.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
   SET sql = replace(sql,
       'CHECK (status IN
                   (''open'', ''claimed'', ''done'', ''escalated'', ''resolved'', ''cancelled''))',
       'CHECK (status = ''open'' OR status = ''claimed'' OR status = ''done''
                   OR status = ''escalated'' OR status = ''resolved'' OR status = ''cancelled'')')
 WHERE type = 'table' AND name = 'requests';
PRAGMA writable_schema = OFF;

-- The dispatcher's whole-queue index: unused since 004 (the dispatcher asks per
-- category through requests_open_category), yet written on every submit and
-- every status change.
DROP INDEX IF EXISTS requests_queue;
