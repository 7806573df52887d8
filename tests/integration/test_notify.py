"""Readiness for systemd: the broker, started with NOTIFY_SOCKET as systemd
would (Type=notify), says READY=1 only once its sockets are bound (a client
is answered right after), and STOPPING=1 when SIGTERM stops it."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402


def recv_until(sock, word, timeout=10):
    sock.settimeout(timeout)
    got = []
    while True:
        msg = sock.recv(4096).decode()
        got.append(msg)
        if word in msg.split("\n"):
            return got


def test_ready_then_stopping(bindir):
    with System(bindir) as s:
        path = os.path.join(s.dir, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        try:
            s.env["NOTIFY_SOCKET"] = path
            broker = s.broker()
            got = recv_until(sock, "READY=1")
            assert any("STATUS=" in g for g in got), got
            # Ready means ready: a client is answered at once.
            code, out, err = s.cli_json("list")
            assert code == 0 and out["total"] == 0, (code, out, err)
            broker.p.send_signal(signal.SIGTERM)
            recv_until(sock, "STOPPING=1")
            assert broker.p.wait(10) == 0
        finally:
            sock.close()


def test_no_notify_socket_is_fine(bindir):
    with System(bindir) as s:
        s.env.pop("NOTIFY_SOCKET", None)
        broker = s.broker()
        code, out, err = s.cli_json("list")
        assert code == 0, (code, out, err)
        assert not any("sd_notify" in line for line in broker.err_lines), broker.err_lines
        assert broker.stop() == 0


if __name__ == "__main__":
    main([test_ready_then_stopping, test_no_notify_socket_is_fine])
