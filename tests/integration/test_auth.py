"""Authentication through the real programs, as people meet it: a key the
station refuses is said to be refused (CLI and worker), at once, not as a
time-out; a peer without CURVE gets nothing; key files are owner-only."""
import json
import os
import stat
import subprocess
import sys
import time

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


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_no_spin(bindir):
    """With every descriptor taken by idle connections, the broker stops accepting
    for a while instead of spinning on accept(), and still serves the connections
    it has."""
    import socket

    def free_port():
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            return t.getsockname()[1]
    # TCP, as deployed: libzmq 4.3.4's ipc:// listener aborts on EMFILE (an upstream
    # assertion), its TCP listener reports it, which the broker acts on.
    client, worker = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with System(bindir, {"max_open_files": 256, "client_endpoint": client,
                         "worker_endpoint": worker}) as s:
        s.client_ep, s.worker_ep = client, worker
        b = s.broker()
        # A connection that is already there (the notifier) and the office's.
        s.notifier()
        code, out, err = s.cli("volunteers")
        assert code == 0, (code, out, err)
        hogs = []
        try:
            for _ in range(400):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.setblocking(False)
                try:
                    c.connect(("127.0.0.1", int(client.rsplit(":", 1)[1])))
                except (BlockingIOError, ConnectionRefusedError, FileNotFoundError, OSError):
                    pass
                hogs.append(c)
            # The kernel holds only a backlog's worth of handshakes at once; the rest of
            # the SYNs are retried after 1 s, 3 s, ... so wait for the broker to say it,
            # bounded, instead of guessing how long a loaded machine takes.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and \
                    not any("文件描述符用完了" in line for line in b.err_lines):
                time.sleep(0.2)
            assert any("文件描述符用完了" in line for line in b.err_lines), b.err_lines[-5:]
            before, t0 = _cpu_seconds(b.p.pid), time.monotonic()
            time.sleep(3.0)
            used = _cpu_seconds(b.p.pid) - before
            elapsed = time.monotonic() - t0
            # A busy accept loop burns a whole core (~elapsed); paused, it is near idle.
            assert used < 0.5 * elapsed, (used, elapsed)
        finally:
            for c in hogs:
                c.close()
        # Descriptors back: new connections are accepted again.
        deadline = time.time() + 10
        while time.time() < deadline:
            code, out, err = s.cli("volunteers", timeout=30)
            if code == 0:
                break
        assert code == 0, (code, out, err)


def test_dev_mode_only_on_loopback(bindir):
    with System(bindir, {"auth": "none", "worker_endpoint": "tcp://0.0.0.0:0"}) as s:
        p = s.start("broker", [s.prog("bianmin-broker"), "--config", s.config])
        assert p.p.wait(10) == 4  # lib/exitcodes.h: BM_EXIT_CONFIG
        assert any("开发模式" in line and "loopback" in line for line in p.err_lines), p.err_lines[-3:]


def test_key_none_means_development_mode(bindir):
    """A key file found by default ($BIANMIN_KEY, or var/keys/ after `make run`)
    cannot speak to a development-mode broker; --key none or BIANMIN_KEY=none
    says not to use one."""
    with System(bindir, {"auth": "none"}) as s:
        s.broker()
        z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCD"
        path = os.path.join(s.dir, "stale-office.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"role": "office", "name": "旧钥匙 stale", "public": z85, "secret": z85[::-1],
                       "broker": z85, "client_endpoint": s.client_ep}, f)

        def run(env_key, *args):
            env = dict(s.env, BIANMIN_KEY=env_key)
            r = subprocess.run([s.prog("bianmin"), "--broker", s.client_ep, "--timeout", "3000", *args,
                                "--json", "list"], capture_output=True, timeout=60, env=env)
            return r.returncode, r.stdout.decode()

        code, out = run(path)
        assert code != 0 and ("key_refused" in out or "timeout" in out), (code, out)
        code, out = run(path, "--key", "none")
        assert code == 0 and json.loads(out)["total"] == 0, (code, out)
        code, out = run("none")
        assert code == 0 and json.loads(out)["total"] == 0, (code, out)


if __name__ == "__main__":
    main([test_revoked_key_is_told_not_timed_out, test_no_curve_gets_nothing, test_out_of_descriptors_no_spin,
          test_dev_mode_only_on_loopback, test_key_none_means_development_mode])
