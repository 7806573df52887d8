"""Integration-test harness: starts the real bianmin programs on loopback / ipc://
in a temp dir, a webhook receiver that verifies Standard Webhooks signatures,
and cleans every process up whatever happens. Python standard library only."""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def verify_signature(secret, msg_id, timestamp, body, header):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, sig) for sig in header.split(" "))


class Receiver:
    """A webhook endpoint on 127.0.0.1. `script` maps a path to a list of
    (status, delay_s) or (status, delay_s, {header: value}) answers used in
    turn (the last one repeats). Each received dict also has "at" (time.time()
    when the request arrived, before any delay), the raw "signature" header
    and the "raw" body as text (raw.encode("utf-8", "surrogateescape") gives
    back the exact bytes)."""

    def __init__(self, secret=SECRET):
        self.secret = secret
        self.received = []          # dicts: path, id, timestamp, body(json), valid
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.script = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                arrived = time.time()
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                msg_id = self.headers.get("webhook-id", "")
                ts = self.headers.get("webhook-timestamp", "")
                sig = self.headers.get("webhook-signature", "")
                valid = bool(msg_id and ts and sig) and verify_signature(outer.secret, msg_id, ts, raw, sig)
                with outer.lock:
                    answers = outer.script.get(self.path, [(204, 0)])
                    answer = answers.pop(0) if len(answers) > 1 else answers[0]
                status, delay = answer[0], answer[1]
                extra_headers = answer[2] if len(answer) > 2 else {}
                if delay:
                    time.sleep(delay)
                with outer.cond:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    outer.received.append({"path": self.path, "id": msg_id, "timestamp": ts,
                                           "body": body, "valid": valid, "status": status,
                                           "content_type": self.headers.get("Content-Type", ""),
                                           "at": arrived, "signature": sig,
                                           "raw": raw.decode("utf-8", "surrogateescape")})
                    outer.cond.notify_all()
                self.send_response(status)
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that went away mid-answer (killed notifier) is expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, pred, timeout=15):
        """Waits until pred(list of received) is true; returns the list."""
        deadline = time.time() + timeout
        with self.cond:
            while not pred(self.received):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"webhooks not as expected within {timeout}s: "
                                         f"{json.dumps(self.received, ensure_ascii=False)[:2000]}")
                self.cond.wait(left)
            return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Proc:
    """A started program; stdout lines are queued (for --json workers)."""

    def __init__(self, name, argv, env=None, stdin=False):
        self.name = name
        self.argv = argv
        self.lines = queue.Queue()
        self.stderr_path = None
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        threading.Thread(target=self._pump, args=(self.p.stdout, True), daemon=True).start()
        self.err_lines = []
        threading.Thread(target=self._pump, args=(self.p.stderr, False), daemon=True).start()

    def _pump(self, stream, is_out):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if is_out:
                self.lines.put(line)
            else:
                self.err_lines.append(line)

    def send(self, obj):
        self.p.stdin.write((json.dumps(obj, ensure_ascii=False) + "\n").encode())
        self.p.stdin.flush()

    def event(self, pred, timeout=10):
        """Returns the next JSON stdout line for which pred(obj) is true."""
        deadline = time.time() + timeout
        seen = []
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"{self.name}: no matching event in {timeout}s; saw {seen[-10:]}; "
                                     f"stderr: {self.err_lines[-10:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                seen.append(line)
                continue
            seen.append(obj)
            if pred(obj):
                return obj

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class System:
    """Everything one test needs, in one temp dir; use as a context manager."""

    def __init__(self, bindir, config_extra=None):
        self.bin = bindir
        self.dir = tempfile.mkdtemp(prefix="bm-it-")
        self.client_ep = f"ipc://{self.dir}/client.sock"
        self.worker_ep = f"ipc://{self.dir}/worker.sock"
        self.db = os.path.join(self.dir, "bianmin.db")
        self.config = os.path.join(self.dir, "bianmin.json")
        cfg = {"client_endpoint": self.client_ep, "worker_endpoint": self.worker_ep,
               "database": self.db, "callback_secret": SECRET, "heartbeat_ms": 300,
               "retry_schedule_s": [0, 1, 1, 1]}
        cfg.update(config_extra or {})
        with open(self.config, "w", encoding="utf-8") as f:
            json.dump(cfg, f, ensure_ascii=False)
        self.procs = []
        self.receiver = None
        self.env = dict(os.environ)
        self.env.pop("BIANMIN_BROKER", None)
        self.env.pop("BIANMIN_KEY", None)
        self.env.pop("BIANMIN_CONFIG", None)  # the CLI asks the broker for its choices
        # The broker makes its own key and the first office key here on its
        # first start (unless the config says "auth": "none").
        self.keys = os.path.join(self.dir, "keys")
        self.office_key = os.path.join(self.keys, "office.key")
        self.key_files = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop(signal.SIGKILL if exc[0] else signal.SIGTERM)
        if self.receiver:
            self.receiver.close()
        if exc[0]:
            for p in self.procs:
                sys.stderr.write(f"--- {p.name} stderr (last 30 lines)\n" + "\n".join(p.err_lines[-30:]) + "\n")
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def prog(self, name):
        return os.path.join(self.bin, name)

    def start(self, name, argv, stdin=False):
        p = Proc(name, argv, env=self.env, stdin=stdin)
        self.procs.append(p)
        return p

    def broker(self, *extra):
        p = self.start("broker", [self.prog("bianmin-broker"), "--config", self.config,
                                  "--log-level", os.environ.get("BM_IT_BROKER_LOG", "info"), *extra])
        # Ready when the client socket answers.
        deadline = time.time() + 10
        while time.time() < deadline:
            if p.p.poll() is not None:
                raise AssertionError(f"broker exited {p.p.returncode}: {p.err_lines[-5:]}")
            if any("listening" in line for line in p.err_lines):
                return p
            time.sleep(0.05)
        raise AssertionError("broker did not start")

    def authenticated(self):
        """True once the broker has made the office key (auth is on)."""
        return os.path.exists(self.office_key)

    def key(self, role, name="", skills=None, max_jobs=None, acts_for=None):
        """Registers a key for role through the office (`bianmin keys new`) and
        returns its file; the same role gives the same file."""
        if role in self.key_files:
            return self.key_files[role]
        path = os.path.join(self.keys, role.replace(":", "-") + ".key")
        args = ["keys", "new", "--role", role, "--out", path]
        if name:
            args += ["--name", name]
        if skills:
            args += ["--skills", skills]
        if max_jobs:
            args += ["--max-jobs", str(max_jobs)]
        if acts_for:
            args += ["--acts-for", acts_for]
        code, out, err = self.cli(*args)
        assert code == 0, (args, code, out, err)
        self.key_files[role] = path
        return path

    def notifier(self, *extra):
        # The receivers are on 127.0.0.1, which the SSRF guard refuses unless allowed.
        key = ["--key", self.key("notifier", "通知器")] if self.authenticated() else []
        return self.start("notifier", [self.prog("bianmin-notifier"), "--broker", self.client_ep, *key,
                                       "--log-level", "debug", "--allow-host", "127.0.0.1", *extra])

    def worker(self, vid, name, skills, *extra):
        key = []
        if self.authenticated():
            jobs = int(extra[extra.index("--max-jobs") + 1]) if "--max-jobs" in extra else 1
            key = ["--key", self.key(f"volunteer:{vid}", name, skills, jobs)]
        w = self.start(f"worker {vid}", [self.prog("bianmin-worker"), "--id", vid, "--name", name,
                                         "--skills", skills, "--broker", self.worker_ep, *key, "--json",
                                         *extra],
                       stdin=True)
        w.event(lambda e: e.get("event") == "connected")
        return w

    def gateway(self, api_keys=None, extra_cfg=None, *extra):
        """Starts bianmin-gateway on a free loopback port (with a key of role
        gateway once auth is on); api_keys maps a plain api_key to a channel.
        Returns the Proc; self.gateway_url is its base URL."""
        return start_gateway(self, api_keys or {}, extra_cfg or {}, extra)

    def user(self, login, role, password, name=""):
        """Adds a gateway login through the office (`bianmin users add`)."""
        args = ["users", "add", login, "--role", role, "--password-stdin"] + (["--name", name] if name else [])
        code, out, err = self.cli(*args, stdin=password + "\n")
        assert code == 0, (args, code, out, err)

    def receive(self):
        self.receiver = Receiver()
        return self.receiver

    def cli(self, *args, stdin=None, timeout=30, key=None):
        """Runs the bianmin CLI (with the office key once there is one, or
        key=FILE; key=False for none); returns (exit code, stdout, stderr)."""
        if key is None and self.authenticated():
            key = self.office_key
        keyarg = ["--key", key] if key else []
        r = subprocess.run([self.prog("bianmin"), "--broker", self.client_ep, *keyarg, *args],
                           input=stdin.encode() if stdin is not None else None,
                           capture_output=True, timeout=timeout, env=self.env)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def cli_json(self, *args, **kw):
        code, out, err = self.cli("--json", *args, **kw)
        try:
            return code, json.loads(out) if out.strip() else None, err
        except ValueError:
            raise AssertionError(f"bianmin {args}: not JSON: {out!r} {err!r}")

    def sql(self, query, *params):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()


def start_gateway(system, api_keys, extra_cfg, extra):
    """bianmin-gateway for System.gateway(): config file, key, free port, ready check."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = {"listen": f"127.0.0.1:{port}", "broker": system.client_ep, "broker_config": system.config,
           "secret_file": os.path.join(system.dir, "gateway.secret"),
           "api_keys": [{"sha256": hashlib.sha256(k.encode()).hexdigest(), "channel": c}
                        for k, c in api_keys.items()]}
    cfg.update(extra_cfg)
    if system.authenticated():
        cfg["key"] = system.key("gateway", "网关", acts_for="office,channel:building_leader,"
                                "channel:council,channel:forum")
    path = os.path.join(system.dir, f"gateway-{port}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False)
    p = system.start("gateway", [system.prog("bianmin-gateway"), "--config", path, "--log-level", "debug",
                                 *extra])
    deadline = time.time() + 10
    while time.time() < deadline:
        if p.p.poll() is not None:
            raise AssertionError(f"gateway exited {p.p.returncode}: {p.err_lines[-5:]}")
        if any("listening" in line for line in p.err_lines):
            system.gateway_url = f"http://127.0.0.1:{port}"
            return p
        time.sleep(0.05)
    raise AssertionError("gateway did not start")


# ---- a minimal BM1 client (ZMTP 3.0, NULL mechanism, over an ipc:// socket): what a
# peer without CURVE can do. The broker must refuse it (test_auth.py).

def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AssertionError("the broker closed the connection")
        buf += chunk
    return buf


def _send_frame(sock, data, more=False, command=False):
    flags = (0x01 if more else 0) | (0x04 if command else 0)
    if len(data) > 255:
        sock.sendall(bytes([flags | 0x02]) + struct.pack(">Q", len(data)) + data)
    else:
        sock.sendall(bytes([flags, len(data)]) + data)


def _recv_frame(sock):
    flags = _recv_exact(sock, 1)[0]
    size = struct.unpack(">Q", _recv_exact(sock, 8))[0] if flags & 0x02 else _recv_exact(sock, 1)[0]
    return flags, _recv_exact(sock, size)


def bm1(endpoint, cmd, body, timeout=10):
    """Sends one BM1 request as a DEALER and returns (reply command, body)."""
    assert endpoint.startswith("ipc://")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(endpoint[len("ipc://"):])
        greeting = b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32
        sock.sendall(greeting)
        peer = _recv_exact(sock, 64)
        assert peer[0] == 0xff and peer[9] == 0x7f and peer[10] == 3, peer
        ready = (b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER")
        _send_frame(sock, ready, command=True)
        flags, data = _recv_frame(sock)
        assert flags & 0x04 and data.startswith(b"\x05READY"), data
        frames = [b"BM1", cmd.encode(), b"t-1", json.dumps(body, ensure_ascii=False).encode()]
        for i, f in enumerate(frames):
            _send_frame(sock, f, more=i < len(frames) - 1)
        reply = []
        while True:
            flags, data = _recv_frame(sock)
            if flags & 0x04:
                continue  # a ZMTP command (e.g. PING), not part of the message
            reply.append(data)
            if not flags & 0x01:
                break
        assert len(reply) == 4 and reply[0] == b"BM1" and reply[2] == b"t-1", reply
        return reply[1].decode(), json.loads(reply[3])
    finally:
        sock.close()


def main(tests):
    """Runs the given test functions; prints one line each and a summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("-k", default="")
    args = ap.parse_args()
    passed = failed = 0
    for t in tests:
        if args.k and args.k not in t.__name__:
            continue
        start = time.time()
        try:
            t(args.bin)
            passed += 1
            print(f"PASS {t.__name__} ({time.time() - start:.1f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
