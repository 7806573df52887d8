"""Authentication through the real programs, as people meet it: a key the
station refuses is said to be refused (CLI and worker), at once, not as a
time-out; a peer without CURVE gets nothing; key files are owner-only."""
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, bm1, main  # noqa: E402


def test_revoked_key_is_told_not_timed_out(bindir):
    with System(bindir) as s:
        s.broker()
        leader = s.key("channel:building_leader", "3栋楼栋长")
        assert stat.S_IMODE(os.stat(leader).st_mode) == 0o600
        code, out, err = s.cli("list", key=leader)
        assert code == 0, (code, out, err)
        vkey = s.key("volunteer:v09", "王师傅", "lock")
        code, out, err = s.cli("keys", "revoke", "channel:building_leader")
        assert code == 0 and "revoked" in out, (code, out, err)
        code, out, err = s.cli("keys", "revoke", "volunteer:v09")
        assert code == 0, (code, out, err)
        # The code says it: refused at the handshake, not a time-out (which would say "timeout").
        code, out, err = s.cli("--json", "--timeout", "20000", "list", key=leader, timeout=60)
        assert code != 0 and "key_refused" in out and "timeout" not in out, (code, out, err)
        assert "请向办公室要一把新的" in out and "ask the office" in out, out
        # The volunteer's worker says so too, and stops: retrying cannot help.
        w = s.start("worker v09", [s.prog("bianmin-worker"), "--key", vkey, "--broker", s.worker_ep,
                                    "--json"], stdin=True)
        ev = w.event(lambda e: e.get("code") == "key_refused", timeout=10)
        assert "ask the office" in ev.get("message", ""), ev
        assert w.p.wait(10) != 0


def test_no_curve_gets_nothing(bindir):
    with System(bindir) as s:
        s.broker()
        try:
            kind, reply = bm1(s.client_ep, "list", {}, timeout=3)
        except (AssertionError, OSError) as e:  # closed or timed out: nothing answered
            kind, reply = None, str(e)
        assert kind is None, (kind, reply)
        assert s.sql("SELECT count(*) FROM requests") == [(0,)]


def test_dev_mode_only_on_loopback(bindir):
    with System(bindir, {"auth": "none", "worker_endpoint": "tcp://0.0.0.0:0"}) as s:
        p = s.start("broker", [s.prog("bianmin-broker"), "--config", s.config])
        assert p.p.wait(10) == 1
        assert any("开发模式" in line and "loopback" in line for line in p.err_lines), p.err_lines[-3:]


if __name__ == "__main__":
    main([test_revoked_key_is_told_not_timed_out, test_no_curve_gets_nothing, test_dev_mode_only_on_loopback])
