"""The volunteer's terminal, driven through a pseudo-terminal against the real
broker: a line being typed survives an offer printed above it, the up arrow
recalls the last command, a 60-column screen gets no line wider than 60
columns, an outage is said once (and "cannot reach" before any connection),
log lines stay off the screen, the claim's hold is recalled once before it
runs out, and the office's reason is shown when a job is taken back."""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import unicodedata

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

PROMPT = "便民> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
UP = b"\x1b[A"


def flat(text):
    """The text with wrapped lines joined again (a wrap drops one space)."""
    return re.sub(r"\r?\n +", " ", text)


def columns(text):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else
               0 if unicodedata.combining(c) else 1 for c in text)


class Tty:
    """bianmin-worker on a pseudo-terminal of `cols` columns; everything it
    writes to the terminal is collected in `raw`."""

    def __init__(self, s, vid, skills, *extra, cols=60, stderr_path=None):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        env = dict(s.env, TERM="xterm", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        if s.authenticated():
            jobs = int(extra[extra.index("--max-jobs") + 1]) if "--max-jobs" in extra else 1
            extra = ("--key", s.key(f"volunteer:{vid}", "袁建成", skills, jobs), *extra)
        self.errf = open(stderr_path, "wb") if stderr_path else None
        self.p = subprocess.Popen(
            [s.prog("bianmin-worker"), "--id", vid, "--name", "袁建成", "--skills", skills,
             "--broker", s.worker_ep, *extra],
            stdin=slave, stdout=slave, stderr=self.errf or slave, env=env,
            start_new_session=True)
        os.close(slave)
        self.fd = master
        self.raw = ""
        self.buf = b""
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if not r:
                    if self.p.poll() is not None:
                        return
                    continue
                data = os.read(self.fd, 4096)
            except OSError:
                return
            if not data:
                return
            with self.cond:
                self.buf += data
                self.raw = self.buf.decode("utf-8", "replace")
                self.cond.notify_all()

    def text(self):
        """What was shown, without escape sequences."""
        with self.cond:
            return ANSI.sub("", self.raw)

    def wait(self, pred, timeout=15, what="output"):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                plain = ANSI.sub("", self.raw)
                if pred(plain):
                    return plain
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout}s; screen so far:\n"
                                         f"{plain[-3000:]}")
                self.cond.wait(min(left, 0.5))

    def type(self, data):
        os.write(self.fd, data if isinstance(data, bytes) else data.encode())

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.thread.join(5)
        os.close(self.fd)
        if self.errf:
            self.errf.close()
        return self.p.returncode


def submit(s, text, category="pipe", building="市政小区 3栋"):
    code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", category,
                                "--building", building, "--contact", "罗女士 13800000000",
                                "--text", text)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def segments(plain):
    """Each run of text written from the left edge (split at CR and LF)."""
    return [seg for line in plain.split("\n") for seg in line.split("\r")]


LONG = ("厨房下水道堵了，水已经漫到客厅地板上，老人在家行动不便，请尽快上门 "
        "the kitchen drain is blocked and water reaches the living room floor")


def test_typing_while_an_offer_arrives(bindir):
    """Half a command typed, an offer printed above it, the rest typed: the
    whole command runs; the up arrow runs it again; nothing is wider than 60."""
    with System(bindir) as s:
        s.broker()
        t = Tty(s, "v01", "pipe", cols=60)
        try:
            t.wait(lambda x: "已连接服务站 Connected" in x, what="connected")
            t.wait(lambda x: x.endswith(PROMPT), what="prompt")
            t.type("offe")
            t.wait(lambda x: x.endswith(PROMPT + "offe"), what="typed text echoed")
            ticket = submit(s, LONG)
            shown = t.wait(lambda x: f"New job #{ticket}" in x and
                           x.endswith(PROMPT + "offe"), what="offer above the line")
            after = shown[shown.index(f"New job #{ticket}"):]
            assert PROMPT + "offe" in after, "the typed text is drawn again under the offer"
            t.type("rs\r")
            t.wait(lambda x: "新订单 Open offers (1)" in x, what="offers answer")
            # History: the up arrow brings back "offers"; Enter runs it again.
            t.type(UP)
            t.wait(lambda x: x.rstrip().endswith("offers"), what="recalled line")
            t.type("\r")
            t.wait(lambda x: x.count("新订单 Open offers (1)") == 2, what="second offers answer")
            t.type("help\r")
            t.wait(lambda x: "修不了" in x and x.rstrip(" ").endswith(PROMPT.rstrip()), what="help")
            plain = t.text()
            wide = [seg for seg in segments(plain) if columns(seg) > 60]
            assert not wide, f"lines wider than 60 columns: {wide}"
            # Wrapping did happen: the offer's text is not on one line.
            assert LONG not in plain.replace("\r\n", "\n"), "the long offer was wrapped"
            assert "the kitchen drain is blocked" in flat(plain), "the whole offer is shown"
            # The terminal narrows to 40 columns (SIGWINCH): what follows fits in 40.
            fcntl.ioctl(t.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
            t.p.send_signal(signal.SIGWINCH)
            mark = len(plain)
            assert any(columns(seg) > 40 for seg in segments(plain)), "60 columns were used"
            t.type("help\r")
            t.wait(lambda x: x[mark:].count("修不了") >= 1 and
                   x.rstrip(" ").endswith(PROMPT.rstrip()), what="help at 40 columns")
            wide = [seg for seg in segments(t.text()[mark:]) if columns(seg) > 40]
            assert not wide, f"lines wider than 40 columns after the resize: {wide}"
            t.type("quit\r")
            assert t.p.wait(10) == 0
        finally:
            t.stop()


def test_outage_said_once_and_logs_off_screen(bindir):
    """Before any connection: "cannot reach the station at …" once; after one:
    "lost the station" once however long it lasts; no log lines on screen.
    (The worker starts before any broker, so before any key: no CURVE here.)"""
    with System(bindir, {"auth": "none"}) as s:
        t = Tty(s, "v02", "pipe", cols=80)
        try:
            t.wait(lambda x: f"cannot reach the station at {s.worker_ep}" in flat(x), timeout=20,
                   what="cannot reach")
            assert "无法连接服务站" in t.text()
            broker = s.broker()
            t.wait(lambda x: "已连接服务站 Connected" in x, timeout=20, what="connected")
            broker.stop(signal.SIGKILL)
            t.wait(lambda x: "lost the station" in flat(x), timeout=15, what="lost the station")
            # Several reconnect attempts (heartbeat 300 ms: one each ~0.9 s).
            time.sleep(4)
            s.broker()
            plain = t.wait(lambda x: x.count("已连接服务站 Connected") == 2, timeout=20,
                           what="connected again")
            assert flat(plain).count("lost the station") == 1, plain
            assert flat(plain).count("cannot reach the station") == 1, plain
            assert "与服务站的连接断开" in plain
            for word in ("WARN", "INFO", "lost the broker", "bianmin-worker:"):
                assert word not in plain, f"log text {word!r} on the screen:\n{plain}"
            t.type("quit\r")
            assert t.p.wait(10) == 0
        finally:
            t.stop()


def test_logs_still_written_when_stderr_is_a_file(bindir):
    """Off the screen, not lost: with stderr a file the warning is there, once."""
    with System(bindir, {"auth": "none"}) as s:
        log = os.path.join(s.dir, "worker.log")
        t = Tty(s, "v03", "pipe", "--log-level", "debug", cols=80, stderr_path=log)
        try:
            t.wait(lambda x: "cannot reach the station" in flat(x), timeout=20,
                   what="cannot reach")

            def retries():
                with open(log, encoding="utf-8", errors="replace") as f:
                    return f.read()
            deadline = time.time() + 20
            while "still no station" not in retries() and time.time() < deadline:
                time.sleep(0.2)
            text = retries()
            assert "still no station" in text, text[-2000:]
            assert text.count("cannot reach the broker, reconnecting") == 1, text[-2000:]
            assert flat(t.text()).count("cannot reach the station") == 1
        finally:
            t.stop()


def test_lease_reminder_and_revoke_reason(bindir):
    """A claim's hold (lease_s 8 s, reminder 5 s before) is recalled once, then
    taken back as expired; the office's cancel reason reaches the screen."""
    cats = [{"name": "pipe", "lease_s": 8}, {"name": "lock"}]
    with System(bindir, {"categories": cats}) as s:
        s.broker()
        t = Tty(s, "v04", "pipe,lock", "--max-jobs", "2", "--remind-before", "5", cols=80)
        try:
            t.wait(lambda x: "已连接服务站 Connected" in x, what="connected")
            t1 = submit(s, "水管漏水")
            t.wait(lambda x: f"New job #{t1}" in x, what="offer")
            t.type(f"claim {t1}\r")
            # The claim's lines may reach the terminal in more than one write: wait
            # for the whole answer (bounded), then check it.
            claimed = t.wait(lambda x: f"接单成功 Claimed #{t1}" in x and "接单保留至 Claim held until" in x
                             and "服务时限 Service deadline" in x, what="claimed, with its hold and deadline")
            assert "接单保留至 Claim held until" in claimed
            assert "服务时限 Service deadline" in claimed
            t.wait(lambda x: f"提醒 Reminder #{t1}" in x, timeout=15, what="reminder")
            plain = t.wait(lambda x: f"任务已收回 Job #{t1} taken back" in x, timeout=20,
                           what="lease expired")
            assert plain.count(f"提醒 Reminder #{t1}") == 1, plain
            assert "接单保留已到期" in plain[plain.index(f"Job #{t1} taken back"):]

            t2 = submit(s, "门锁坏了", category="lock", building="市政小区 8栋")
            t.wait(lambda x: f"New job #{t2}" in x, what="offer 2")
            t.type(f"claim {t2}\r")
            t.wait(lambda x: f"接单成功 Claimed #{t2}" in x, what="claimed 2")
            code, out, err = s.cli_json("cancel", str(t2), "--channel", "office",
                                        "--reason", "居民已自行解决")
            assert code == 0, (code, out, err)
            plain = t.wait(lambda x: f"Job #{t2} taken back" in x, what="revoked")
            line = plain[plain.index(f"Job #{t2} taken back"):]
            assert "办公室已取消 cancelled by the office" in line, line
            assert "居民已自行解决" in line, line
            t.type("quit\r")
            assert t.p.wait(10) == 0
        finally:
            t.stop()


if __name__ == "__main__":
    main([test_typing_while_an_offer_arrives, test_outage_said_once_and_logs_off_screen,
          test_logs_still_written_when_stderr_is_a_file, test_lease_reminder_and_revoke_reason])
