"""Upgrades: each database fixture made by an earlier release
(tests/fixtures/upgrade/, see its README) is opened by the current broker,
which migrates it to the current schema; every request, event, delivery,
delivery attempt, attachment, volunteer and endpoint is still there with the
same values, and the system keeps working (status, a new submit)."""
import gzip
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "upgrade")
TABLES = ["requests", "events", "deliveries", "delivery_attempts", "attachments", "volunteers",
          "endpoints"]


def rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {"user_version": con.execute("PRAGMA user_version").fetchone()[0]}
        for t in TABLES:
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({t})")]
            out[t] = (cols, con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY rowid").fetchall())
        return out
    finally:
        con.close()


def schema_of_this_build(s):
    out = subprocess.run([s.prog("bianmin-broker"), "--version"], capture_output=True, text=True).stdout
    return int(re.search(r"schema (\d+)", out).group(1))


def upgrade(bindir, fixture):
    with System(bindir) as s:
        with gzip.open(os.path.join(FIXTURES, fixture)) as src, open(s.db, "wb") as dst:
            dst.write(src.read())
        before = rows(s.db)
        assert before["requests"][1] and before["events"][1] and before["deliveries"][1], fixture
        s.broker()
        after_start = s.sql("PRAGMA user_version")[0][0]
        assert after_start == schema_of_this_build(s), (after_start, fixture)
        # 006_queries.sql: the office's queries have their indexes on the old data
        idx = {r[0] for r in s.sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"requests_building", "events_month", "events_rated"} <= idx, (idx, fixture)
        # 009_ticket_order.sql: time ranges use requests_status_created
        assert "requests_created" not in idx and "requests_status_created" in idx, (idx, fixture)
        # 010_open_once.sql: an open request is indexed once, in requests_open_category
        sc = s.sql("SELECT sql FROM sqlite_master WHERE name = 'requests_status_created'")[0][0]
        assert "WHERE status <> 'open'" in sc, (sc, fixture)
        views = {r[0] for r in s.sql("SELECT name FROM sqlite_master WHERE type = 'view'")}
        assert "timeline" in views, (views, fixture)
        con = sqlite3.connect(f"file:{s.db}?mode=ro", uri=True)
        try:
            for t in TABLES:
                cols, old = before[t]
                new = con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY rowid").fetchall()
                assert new == old, f"{fixture}: {t} changed by the upgrade:\n{old}\n{new}"
        finally:
            con.close()
        for (ticket, *_rest) in before["requests"][1]:
            code, st, err = s.cli_json("status", str(ticket))
            assert code == 0 and st["request"]["ticket"] == ticket, (code, st, err)
            # 007_receipt.sql: an old request keeps its stored received event, and
            # its timeline shows exactly one receipt, first.
            kinds = [e["kind"] for e in st["events"]]
            assert kinds.count("received") == 1 and kinds[0] == "received", (fixture, ticket, kinds)
        code, out, err = s.cli_json("submit", "--channel", "office", "--category", "repair",
                                    "--building", "幸福里 7栋", "--contact", "赵 137", "--text", "灯坏了")
        assert code == 0 and out["ticket"] == len(before["requests"][1]) + 1, (code, out, err)
        # A new request after the upgrade: no event row, the receipt from the row.
        new_ticket = out["ticket"]
        assert s.sql(f"SELECT count(*) FROM events WHERE request_id = {new_ticket}")[0][0] == 0
        code, st, err = s.cli_json("status", str(new_ticket))
        assert code == 0 and [e["kind"] for e in st["events"]] == ["received"], (code, st, err)
        assert st["events"][0]["actor"] == "channel:office", st["events"][0]
        # Lists by status find the old requests and the new one alike.
        for status, in s.sql("SELECT DISTINCT status FROM requests"):
            want = sorted(r[0] for r in s.sql(f"SELECT id FROM requests WHERE status = '{status}'"))
            code, out, err = s.cli_json("list", "--status", status, "--limit", "200")
            assert code == 0 and sorted(r["ticket"] for r in out["requests"]) == want, (fixture, status, out, err)


def test_every_fixture_migrates_and_keeps_everything(bindir):
    fixtures = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".db.gz"))
    assert fixtures, "no fixtures"
    for f in fixtures:
        upgrade(bindir, f)


if __name__ == "__main__":
    main([test_every_fixture_migrates_and_keeps_everything])
