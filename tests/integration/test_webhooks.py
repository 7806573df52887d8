"""Webhooks through the real broker and notifier: signed, retried on the
schedule and after Retry-After, never lost, never sent to a disabled (410)
endpoint, never redirected, never to a local address unless allowed; a hung
receiver does not hold up the others; notices about one request arrive in
order; a rotated secret signs alongside the old one. Receivers on 127.0.0.1."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SECRET, System, main, verify_signature  # noqa: E402

FAST = {"retry_schedule_s": [0, 1, 1, 1, 1]}


def submit(s, callback, text="厨房下水道堵了", category="pipe"):
    code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", category,
                                "--building", "市政小区 3栋", "--unit", "2-301",
                                "--contact", "罗女士 13800000000", "--text", text,
                                "--callback", callback)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def cancel(s, ticket):
    code, out, err = s.cli_json("cancel", str(ticket), "--channel", "building_leader",
                                "--reason", "住户已自行修好")
    assert code == 0, (code, out, err)


def wait_sql(s, query, params, pred, timeout=15):
    """Polls a query until pred(rows) holds; returns the rows."""
    deadline = time.time() + timeout
    while True:
        rows = s.sql(query, *params)
        if pred(rows):
            return rows
        if time.time() > deadline:
            raise AssertionError(f"{query} {params}: still {rows} after {timeout}s")
        time.sleep(0.1)


def delivery_of(s, ticket, type_="request.received"):
    rows = wait_sql(s, "SELECT id FROM deliveries WHERE request_id = ? AND type = ?",
                    (ticket, type_), lambda r: len(r) == 1)
    return rows[0][0]


def attempts_of(s, delivery):
    return s.sql("SELECT status, error FROM delivery_attempts WHERE delivery_id = ? ORDER BY id",
                 delivery)


# ---- tests

def test_signed_and_timestamped(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        s.broker()
        s.notifier()
        t = submit(s, rx.url())
        cancel(s, t)
        got = rx.wait_for(lambda r: len(r) >= 2)
        now = time.time()
        assert [r["body"]["type"] for r in got] == ["request.received", "request.cancelled"]
        for r in got:
            assert r["valid"], r
            assert r["id"].startswith("msg_"), r
            assert abs(int(r["timestamp"]) - now) <= 5, (r["timestamp"], now)
            assert abs(int(r["timestamp"]) - r["at"]) <= 2, (r["timestamp"], r["at"])
            # The signature covers exactly the bytes sent.
            raw = r["raw"].encode("utf-8", "surrogateescape")
            assert not verify_signature(SECRET, r["id"], r["timestamp"], raw + b" ", r["signature"])
        assert got[0]["id"] != got[1]["id"]


def test_retries_on_schedule_same_id(bindir):
    failures = 3
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/flaky"] = [(503, 0)] * failures + [(204, 0)]
        s.broker()
        s.notifier()
        t = submit(s, rx.url("/flaky"))
        got = rx.wait_for(lambda r: len(r) >= failures + 1, timeout=20)
        d = delivery_of(s, t)
        wait_sql(s, "SELECT state FROM deliveries WHERE id = ?", (d,),
                 lambda r: r == [("delivered",)])
        time.sleep(1.5)  # no further attempt after the success
        got = list(rx.received)
        assert len(got) == failures + 1, [(r["status"], r["at"]) for r in got]
        assert len({r["id"] for r in got}) == 1, "every retry keeps its webhook-id"
        assert all(r["valid"] for r in got)
        gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:])]
        assert all(g >= 0.9 for g in gaps), gaps
        attempts = attempts_of(s, d)
        assert [a[0] for a in attempts] == [503] * failures + [204], attempts
        assert all(a[1] == "HTTP 503" for a in attempts[:failures]), attempts
        assert attempts[-1][1] is None, attempts
        assert s.sql("SELECT attempts, last_error FROM deliveries WHERE id = ?", d) == [(failures + 1, None)]


def test_retry_after_honoured(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/busy"] = [(503, 0, {"Retry-After": "3"}), (204, 0)]
        s.broker()
        s.notifier()
        t = submit(s, rx.url("/busy"))
        got = rx.wait_for(lambda r: len(r) >= 2, timeout=15)
        gap = got[1]["at"] - got[0]["at"]
        assert gap >= 2.9, f"retried {gap:.2f}s after a Retry-After: 3"
        assert got[0]["id"] == got[1]["id"]
        d = delivery_of(s, t)
        wait_sql(s, "SELECT state FROM deliveries WHERE id = ?", (d,),
                 lambda r: r == [("delivered",)])
        assert [a[0] for a in attempts_of(s, d)] == [503, 204]


def test_410_disables_endpoint(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/gone"] = [(410, 0)]
        s.broker()
        s.notifier()
        t = submit(s, rx.url("/gone"))
        d = delivery_of(s, t)
        rows = wait_sql(s, "SELECT state, last_error FROM deliveries WHERE id = ?", (d,),
                        lambda r: r[0][0] == "dead")
        assert "410" in rows[0][1], rows
        assert s.sql("SELECT enabled FROM endpoints WHERE url = ?", rx.url("/gone")) == [(0,)]
        assert [a[0] for a in attempts_of(s, d)] == [410], "no retry after 410"
        # A later notice for the same endpoint waits, unsent.
        cancel(s, t)
        later = delivery_of(s, t, "request.cancelled")
        time.sleep(2.5)
        assert s.sql("SELECT state, attempts FROM deliveries WHERE id = ?", later) == [("pending", 0)]
        assert attempts_of(s, later) == []
        assert len(rx.received) == 1, rx.received


def test_hung_receiver_does_not_hold_up_others(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/slow"] = [(204, 5), (204, 0)]  # hangs past --timeout-ms once
        s.broker()
        s.notifier("--timeout-ms", "1500")
        slow = submit(s, rx.url("/slow"), text="楼道灯不亮")
        time.sleep(0.3)  # the slow one is in flight first
        fast = submit(s, rx.url("/fast"), text="水管漏水")
        submitted = time.time()
        got = rx.wait_for(lambda r: any(x["path"] == "/fast" for x in r), timeout=10)
        fast_at = next(x["at"] for x in got if x["path"] == "/fast")
        assert fast_at - submitted < 1.0, f"the prompt receiver waited {fast_at - submitted:.2f}s"
        d_slow = delivery_of(s, slow)
        # The hung attempt ends at the notifier's timeout, and is retried.
        rows = wait_sql(s, "SELECT status, error FROM delivery_attempts WHERE delivery_id = ? ORDER BY id",
                        (d_slow,), lambda r: len(r) >= 1)
        assert rows[0] == (None, "超时：1500 毫秒内没有完成 / timeout after 1500 ms"), rows
        d_fast = delivery_of(s, fast)
        fast_done = wait_sql(s, "SELECT at FROM delivery_attempts WHERE delivery_id = ?", (d_fast,),
                             lambda r: len(r) == 1)[0][0]
        slow_fail = s.sql("SELECT min(at) FROM delivery_attempts WHERE delivery_id = ?", d_slow)[0][0]
        assert fast_done < slow_fail, (fast_done, slow_fail)
        wait_sql(s, "SELECT state FROM deliveries WHERE id = ?", (d_slow,),
                 lambda r: r == [("delivered",)], timeout=15)


def test_redirect_not_followed(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/moved"] = [(302, 0, {"Location": rx.url("/target")})]
        s.broker()
        s.notifier()
        t = submit(s, rx.url("/moved"))
        d = delivery_of(s, t)
        rows = wait_sql(s, "SELECT status, error FROM delivery_attempts WHERE delivery_id = ?",
                        (d,), lambda r: len(r) >= 2, timeout=15)
        assert rows[0] == (302, "HTTP 302（不跟随重定向） / HTTP 302 (redirects are not followed)"), rows
        assert all(r["path"] == "/moved" for r in rx.received), rx.received
        assert s.sql("SELECT state FROM deliveries WHERE id = ?", d) != [("delivered",)]


def test_loopback_refused_without_allow_host(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        s.broker()
        # Not s.notifier(), which allows 127.0.0.1.
        s.start("notifier", [s.prog("bianmin-notifier"), "--broker", s.client_ep,
                             "--key", s.key("notifier"), "--log-level", "debug"])
        t = submit(s, rx.url())
        d = delivery_of(s, t)
        # No retry can help (the notifier reports it permanent): dead after one
        # attempt, not retried for days; the endpoint stays enabled.
        dead = wait_sql(s, "SELECT state, last_error, attempts FROM deliveries WHERE id = ?", (d,),
                        lambda r: r[0][0] == "dead", timeout=15)
        assert dead[0][2] == 1 and "拒绝发送" in dead[0][1] and "refused" in dead[0][1], dead
        rows = s.sql("SELECT status, error FROM delivery_attempts WHERE delivery_id = ?", d)
        assert len(rows) == 1, rows
        for status, error in rows:
            assert status is None
            assert error == ("拒绝发送：目标 127.0.0.1 为本机回环地址（可用 --allow-host 放行） / "
                             "refused: destination 127.0.0.1 is a loopback address "
                             "(allow it with --allow-host)"), error
        assert rx.received == [], rx.received
        assert s.sql("SELECT enabled FROM endpoints WHERE url = ?", rx.url()) == [(1,)]


def test_notices_of_one_request_in_order(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        rx.script["/hook"] = [(204, 0.6)]
        s.broker()
        s.notifier()
        w = s.worker("v01", "袁建成", "pipe")
        t = submit(s, rx.url())
        w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        w.send({"cmd": "claim", "ticket": t})
        w.event(lambda e: e.get("event") == "claimed")
        w.send({"cmd": "done", "ticket": t, "note": "疏通完毕"})
        w.event(lambda e: e.get("event") == "done")
        got = rx.wait_for(lambda r: len(r) >= 3, timeout=15)
        by_arrival = sorted(got, key=lambda r: r["at"])
        types = [r["body"]["type"] for r in by_arrival]
        assert types == ["request.received", "request.claimed", "request.completed"], types
        # One at a time: each was sent only after the one before was answered.
        for a, b in zip(by_arrival, by_arrival[1:]):
            assert b["at"] >= a["at"] + 0.55, (a["at"], b["at"])


def test_secret_rotation_two_signatures(bindir):
    with System(bindir, FAST) as s:
        rx = s.receive()
        s.broker()
        s.notifier()
        t = submit(s, rx.url())
        rx.wait_for(lambda r: len(r) >= 1)
        code, reply, err = s.cli_json("endpoints")
        assert code == 0, (reply, err)
        mine = [e for e in reply["endpoints"] if e["url"] == rx.url()]
        assert len(mine) == 1 and mine[0]["kind"] == "callback", reply
        code, rot, err = s.cli_json("endpoints", "rotate", str(mine[0]["id"]))
        assert code == 0, (rot, err)
        new = rot["secret"]
        assert new.startswith("whsec_") and new != SECRET, rot
        cancel(s, t)
        got = rx.wait_for(lambda r: len(r) >= 2)
        r = got[1]
        assert r["body"]["type"] == "request.cancelled"
        raw = r["raw"].encode("utf-8", "surrogateescape")
        sigs = r["signature"].split(" ")
        assert len(sigs) == 2, r["signature"]
        by_new = [verify_signature(new, r["id"], r["timestamp"], raw, x) for x in sigs]
        by_old = [verify_signature(SECRET, r["id"], r["timestamp"], raw, x) for x in sigs]
        assert sorted([by_new, by_old]) == [[False, True], [True, False]], (by_new, by_old)
        # Before the rotation there was one signature.
        assert len(got[0]["signature"].split(" ")) == 1


if __name__ == "__main__":
    main([test_signed_and_timestamped, test_retries_on_schedule_same_id, test_retry_after_honoured,
          test_410_disables_endpoint, test_hung_receiver_does_not_hold_up_others,
          test_redirect_not_followed, test_loopback_refused_without_allow_host,
          test_notices_of_one_request_in_order, test_secret_rotation_two_signatures])
