"""A broker killed with SIGKILL and restarted: claims, leases and deadlines are
intact, open requests are offered again, and the notifier, killed too, still
delivers every notice at least once with the same webhook-id. A restart on an
empty database beside an old one's traces is refused unless --allow-new-database."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402


def submit(s, category, text, callback=None):
    args = ["submit", "--channel", "council", "--category", category, "--building", "幸福里 7栋",
            "--contact", "赵 137", "--text", text]
    if callback:
        args += ["--callback", callback]
    code, out, err = s.cli_json(*args)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def test_sigkill_restart_keeps_claims_and_deadlines(bindir):
    with System(bindir) as s:
        broker = s.broker()
        w1 = s.worker("v01", "袁建成", "lock")
        t1 = submit(s, "lock", "门打不开")
        t2 = submit(s, "lock", "钥匙断在锁里")
        w1.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t1)
        w1.send({"cmd": "claim", "ticket": t1})
        w1.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == t1)
        before = s.sql("SELECT id, status, volunteer_id, lease_until, deadline_at, offer_due_at "
                       "FROM requests ORDER BY id")
        broker.stop(signal.SIGKILL)
        s.procs.remove(broker)
        s.broker()
        after = s.sql("SELECT id, status, volunteer_id, lease_until, deadline_at, offer_due_at "
                      "FROM requests ORDER BY id")
        assert before == after, (before, after)
        assert after[0][1] == "claimed" and after[0][2] == "v01"
        # A volunteer arriving after the restart is offered the open one, not the claimed one.
        w2 = s.worker("v02", "李师傅", "lock")
        offer = w2.event(lambda e: e.get("event") == "offer")
        assert offer["ticket"] == t2, offer
        # The first volunteer reconnects by itself and still holds its job.
        ev = w1.event(lambda e: e.get("event") == "connected", timeout=20)
        assert [j["ticket"] for j in ev["jobs"]] == [t1]
        w1.send({"cmd": "done", "ticket": t1, "note": "已开锁"})
        w1.event(lambda e: e.get("event") == "done")


def test_notifier_killed_mid_flight_redelivers(bindir):
    with System(bindir, {"delivery_lease_s": 1}) as s:
        rx = s.receive()
        rx.script["/slow"] = [(200, 2.0)]  # every answer takes 2 s
        s.broker()
        n = s.notifier()
        t = submit(s, "pipe", "下水道反水", callback=rx.url("/slow"))
        rx.wait_for(lambda r: len(r) >= 1, timeout=10)
        n.stop(signal.SIGKILL)  # killed while the receiver is still answering
        s.procs.remove(n)
        s.notifier()
        got = rx.wait_for(lambda r: len(r) >= 2, timeout=20)
        assert got[0]["id"] == got[1]["id"], "a redelivery keeps its webhook-id"
        assert all(r["valid"] for r in got)
        deadline = time.time() + 15
        while time.time() < deadline:
            rows = s.sql("SELECT state FROM deliveries WHERE request_id = ?", t)
            if rows == [("delivered",)]:
                break
            time.sleep(0.2)
        assert rows == [("delivered",)], rows


def test_broker_killed_mid_delivery_loses_nothing(bindir):
    with System(bindir, {"delivery_lease_s": 1}) as s:
        rx = s.receive()
        rx.script["/slow"] = [(200, 1.5)]
        broker = s.broker()
        s.notifier()
        t = submit(s, "leak", "水管爆了", callback=rx.url("/slow"))
        rx.wait_for(lambda r: len(r) >= 1, timeout=10)
        broker.stop(signal.SIGKILL)  # while the receiver is still answering
        s.procs.remove(broker)
        s.broker()
        deadline = time.time() + 20
        rows = []
        while time.time() < deadline:
            rows = s.sql("SELECT state FROM deliveries WHERE request_id = ?", t)
            if rows == [("delivered",)]:
                break
            time.sleep(0.2)
        assert rows == [("delivered",)], rows
        got = rx.received
        assert got and len({r["id"] for r in got}) == 1, "every copy has the same webhook-id"
        assert all(r["valid"] for r in got)


def test_new_database_beside_old_traces_refused(bindir):
    with System(bindir) as s:
        broker = s.broker()
        code, out, err = s.cli_json("submit", "--channel", "forum", "--category", "pipe",
                                    "--building", "3栋", "--contact", "c", "--text", "堵了")
        assert code == 0, err
        broker.stop(signal.SIGTERM)
        s.procs.remove(broker)
        # The database is lost, its photo archive is not.
        os.makedirs(os.path.join(s.dir, "archive", "ab"), exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(s.db + suffix):
                os.remove(s.db + suffix)
        r = subprocess.run([s.prog("bianmin-broker"), "--config", s.config], capture_output=True,
                           timeout=20)
        assert r.returncode != 0
        assert "--allow-new-database" in r.stderr.decode(), r.stderr.decode()[-400:]
        assert not os.path.exists(s.db)
        s.broker("--allow-new-database")


if __name__ == "__main__":
    main([test_sigkill_restart_keeps_claims_and_deadlines, test_notifier_killed_mid_flight_redelivers,
          test_broker_killed_mid_delivery_loses_nothing, test_new_database_beside_old_traces_refused])
