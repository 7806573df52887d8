"""Prometheus metrics from the broker's own listener: after submits, a claim,
a done and a delivered webhook, the scrape says so (counters, gauges from the
database, histograms that add up), in valid text format; other paths and
methods are refused; metrics are off unless configured; a bad address stops
the broker at start with a clear message."""
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def metrics_port(broker):
    for line in broker.err_lines:
        m = re.search(r"metrics listening on .* \(port (\d+)\)", line)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no metrics port in the log: {broker.err_lines}")


def scrape(port, path="/metrics", method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def parse(text):
    """{'name{labels}': value}; checks every line and that each sample has a TYPE."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = LINE.match(line)
        assert m, f"not in the text format: {line!r}"
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, f"no TYPE for {name}"
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return samples


def check_histogram(samples, name):
    buckets = [(k, v) for k, v in samples.items() if k.startswith(name + "_bucket")]
    values = [v for _, v in buckets]
    assert values == sorted(values), f"{name}: buckets not cumulative: {buckets}"
    assert samples[name + '_bucket{le="+Inf"}'] == samples[name + "_count"], name


def test_metrics_after_a_day_in_miniature(bindir):
    with System(bindir, {"metrics_listen": "127.0.0.1:0"}) as s:
        rx = s.receive()
        broker = s.broker()
        s.notifier()
        port = metrics_port(broker)
        w = s.worker("v01", "袁建成", "pipe")
        tickets = []
        for i in range(3):
            code, out, err = s.cli_json("submit", "--channel", "council", "--category", "pipe",
                                        "--building", "幸福里 7栋", "--contact", "赵 137",
                                        "--text", f"下水道 {i}", "--callback", rx.url())
            assert code == 0, (code, out, err)
            tickets.append(out["ticket"])
        t = tickets[0]
        w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        w.send({"cmd": "claim", "ticket": t})
        w.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == t)
        w.send({"cmd": "done", "ticket": t, "note": "好了"})
        w.event(lambda e: e.get("event") == "done")
        rx.wait_for(lambda r: sum(1 for x in r if x["body"]["type"] == "request.completed") == 1)
        deadline = time.time() + 10
        while True:  # the notifier's report arrives just after the receiver answered
            status, ctype, text = scrape(port)
            m = parse(text)
            if (m.get('bianmin_webhook_attempts_total{result="ok"}', 0) >= 5
                    and m.get('bianmin_deliveries{state="delivered"}', 0) >= 5) or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        assert m["bianmin_submits_total"] == 3, m["bianmin_submits_total"]
        assert m['bianmin_requests{status="done",category="pipe"}'] == 1
        assert m['bianmin_requests{status="open",category="pipe"}'] == 2
        assert m["bianmin_volunteers_online"] == 1
        assert m["bianmin_database_up"] == 1 and m["bianmin_database_bytes"] > 0
        # 3 received + claimed + completed notices, all to one receiver
        assert m['bianmin_webhook_attempts_total{result="ok"}'] == 5, m
        assert m['bianmin_deliveries{state="delivered"}'] == 5, m
        assert m['bianmin_deliveries{state="pending"}'] == 0 and m['bianmin_deliveries{state="dead"}'] == 0
        assert m["bianmin_webhook_latency_seconds_count"] == 5, m
        assert m["bianmin_commits_total"] >= 5 and m["bianmin_commit_failures_total"] == 0
        assert m["bianmin_commit_seconds_count"] == m["bianmin_commits_total"]
        assert m["bianmin_messages_total"] >= 3 + 2
        for h in ["bianmin_commit_seconds", "bianmin_commit_group_size", "bianmin_webhook_latency_seconds"]:
            check_histogram(m, h)
        assert re.search(r'bianmin_build_info\{version="[0-9.]+",schema="\d+"\} 1', text)
        # Only GET /metrics.
        for path, method, want in [("/", "GET", 404), ("/metrics", "POST", 405)]:
            try:
                scrape(port, path, method)
                raise AssertionError(f"{method} {path} was answered")
            except urllib.error.HTTPError as e:
                assert e.code == want, (path, method, e.code)
        # No personal data in metrics.
        assert "赵" not in text and "幸福里" not in text and "下水道" not in text


def test_metrics_off_by_default_and_bad_address_refused(bindir):
    with System(bindir) as s:
        broker = s.broker()
        assert not any("metrics" in line for line in broker.err_lines), broker.err_lines
    with System(bindir, {"metrics_listen": "not-an-address:x"}) as s:
        r = subprocess.run([s.prog("bianmin-broker"), "--config", s.config], capture_output=True,
                           timeout=20)
        err = r.stderr.decode()
        assert r.returncode == 4 and "metrics_listen" in err, (r.returncode, err)  # BM_EXIT_CONFIG


if __name__ == "__main__":
    main([test_metrics_after_a_day_in_miniature, test_metrics_off_by_default_and_bad_address_refused])
