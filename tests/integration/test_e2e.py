"""One request travelling the whole path, through the real programs:
bianmin submit -> broker -> offer to a --json worker -> claim -> done ->
signed webhooks at a local receiver -> bianmin status shows the timeline."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402


def submit(s, *extra, callback=None, category="pipe"):
    args = ["submit", "--channel", "building_leader", "--category", category,
            "--building", "市政小区 3栋", "--unit", "2-301", "--contact", "罗女士 13800000000",
            "--text", "厨房下水道堵了", *extra]
    if callback:
        args += ["--callback", callback]
    code, out, err = s.cli_json(*args)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def test_request_travels_whole_path(bindir):
    with System(bindir) as s:
        rx = s.receive()
        s.broker()
        s.notifier()
        w = s.worker("v01", "袁建成", "pipe,repair")
        ticket = submit(s, callback=rx.url())
        offer = w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == ticket)
        assert offer["building"] == "市政小区 3栋" and "contact" not in offer
        w.send({"cmd": "claim", "ticket": ticket})
        job = w.event(lambda e: e.get("event") == "claimed")
        assert job["ticket"] == ticket and job["contact"] == "罗女士 13800000000", job
        w.send({"cmd": "done", "ticket": ticket, "note": "疏通完毕，已试水"})
        w.event(lambda e: e.get("event") == "done" and e.get("ticket") == ticket)

        got = rx.wait_for(lambda r: len(r) >= 3)
        types = [r["body"]["type"] for r in got]
        assert types == ["request.received", "request.claimed", "request.completed"], types
        assert all(r["valid"] for r in got), "every notice carries a valid signature"
        assert len({r["id"] for r in got}) == 3
        assert all(r["content_type"].startswith("application/json") for r in got)
        done = got[2]["body"]["data"]
        assert done["ticket"] == ticket and done["status"] == "done"
        assert done["volunteer"] == "袁建成" and done["note"] == "疏通完毕，已试水"
        assert "contact" not in done

        code, st, _ = s.cli_json("status", str(ticket))
        assert code == 0
        assert st["request"]["status"] == "done"
        assert [e["kind"] for e in st["events"]] == ["received", "claimed", "completed"]
        # Deliveries are recorded as delivered (the report may lag the receipt).
        deadline = time.time() + 10
        while time.time() < deadline:
            states = [d["state"] for d in s.cli_json("status", str(ticket))[1]["deliveries"]]
            if states == ["delivered"] * 3:
                break
            time.sleep(0.2)
        assert states == ["delivered"] * 3, states
        # The human view works too.
        code, text, _ = s.cli("status", str(ticket))
        assert code == 0 and "袁建成" in text and "管道疏通" in text, text
        for p in s.procs:
            assert p.stop() == 0, f"{p.name} did not stop cleanly"


def test_bad_input_clear_error_nothing_written(bindir):
    with System(bindir) as s:
        s.broker()
        # The CLI catches an unknown category itself (a usage error, exit 1, one
        # JSON line with --json); the broker refuses it too (a bridge's line).
        code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", "gas",
                                    "--building", "1栋", "--contact", "x", "--text", "y")
        assert code == 1, (code, out, err)
        assert out["code"] == "usage" and out["exit"] == 1, out
        assert "未知类别" in out["message"] and "unknown category" in out["message"], out
        code, out, err = s.cli("submit", "--stdin", stdin='{"channel":"building_leader",'
                               '"category":"gas","building":"1栋","contact":"x","text":"y"}\n')
        assert code == 2, (code, out, err)
        assert "unknown_category" in out, (out, err)
        code, out, err = s.cli("submit", "--channel", "building_leader", "--category", "pipe",
                               "--building", "1栋", "--contact", "x", "--text", "y" * 5000)
        assert code == 2 and "too_large" in out + err, (code, out, err)
        assert s.sql("SELECT count(*) FROM requests") == [(0,)]
        code, out, err = s.cli("status", "12345")
        assert code == 2 and "not_found" in out + err, (code, out, err)


def test_failed_commit_gets_no_acknowledgement(bindir):
    with System(bindir) as s:
        s.broker("--fault-fail-commits", "1")
        code, out, err = s.cli("submit", "--channel", "forum", "--category", "leak",
                               "--building", "5栋", "--contact", "x", "--text", "漏水")
        assert code == 2 and "storage_error" in out + err, (code, out, err)
        assert s.sql("SELECT count(*) FROM requests") == [(0,)]
        assert submit(s) >= 1
        assert s.sql("SELECT count(*) FROM requests") == [(1,)]


def test_batch_submit_from_stdin(bindir):
    with System(bindir) as s:
        s.broker()
        lines = []
        for i in range(50):
            lines.append('{"channel":"forum","category":"repair","building":"%d栋","contact":"c",'
                         '"text":"灯坏了 %d","ref":"f-%d"}' % (i % 7, i, i))
        lines.append("this is not json")
        lines.append('{"channel":"forum","category":"repair","building":"1栋","contact":"c",'
                     '"text":"dup","ref":"f-3"}')
        code, out, err = s.cli("submit", "--stdin", stdin="\n".join(lines) + "\n")
        results = [__import__("json").loads(x) for x in out.splitlines() if x.strip()]
        assert code == 2, (code, err)
        assert len(results) == 52, out
        ok = [r for r in results if r.get("ok")]
        assert len(ok) == 51
        bad = [r for r in results if not r.get("ok")]
        assert bad[0]["code"] == "bad_json"
        assert s.sql("SELECT count(*) FROM requests") == [(50,)]


def test_worker_survives_broker_restart(bindir):
    with System(bindir) as s:
        b = s.broker()
        w = s.worker("v07", "张师傅", "lock")
        t = submit(s, category="lock")
        w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        w.send({"cmd": "claim", "ticket": t})
        w.event(lambda e: e.get("event") == "claimed")
        b.stop(signal.SIGKILL)
        s.procs.remove(b)
        s.broker()
        # The worker notices, reconnects and is told it still holds the job.
        ev = w.event(lambda e: e.get("event") == "connected", timeout=20)
        assert [j["ticket"] for j in ev["jobs"]] == [t], ev
        w.send({"cmd": "done", "ticket": t, "note": "换了锁芯"})
        w.event(lambda e: e.get("event") == "done")
        assert s.sql("SELECT status FROM requests WHERE id = ?", t) == [("done",)]


def test_newer_database_refused(bindir):
    with System(bindir) as s:
        b = s.broker()
        b.stop()
        s.procs.remove(b)
        import sqlite3
        con = sqlite3.connect(s.db)
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
        p = s.start("broker", [s.prog("bianmin-broker"), "--config", s.config])
        assert p.p.wait(10) == 5  # lib/exitcodes.h: BM_EXIT_IO (the database is refused)
        time.sleep(0.1)
        assert any("newer" in line for line in p.err_lines), p.err_lines


if __name__ == "__main__":
    main([test_request_travels_whole_path, test_bad_input_clear_error_nothing_written,
          test_failed_commit_gets_no_acknowledgement, test_batch_submit_from_stdin,
          test_worker_survives_broker_restart, test_newer_database_refused])
