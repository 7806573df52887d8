"""A volunteer's whole day through the real programs: bianmin-worker --json
against the real broker - claim, progress with a photo (archived by SHA-256
beside the database and listed by `bianmin status`), a non-photo refused by the
worker itself, decline (not offered again), cantfix, escalate, and a job
revoked when the office cancels it."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

# A tiny "JPEG": the broker and the worker recognise photos by their first bytes.
JPEG = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + b"JFIF\x00\x01" + bytes(range(64)) + b"\xff\xd9"


def submit(s, text, building="市政小区 3栋"):
    code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", "pipe",
                                "--building", building, "--contact", "罗女士 13800000000",
                                "--text", text)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def is_event(name, ticket=None):
    return lambda e: e.get("event") == name and (ticket is None or e.get("ticket") == ticket)


def claim(w, ticket, wait_offer=True):
    if wait_offer:
        w.event(is_event("offer", ticket))
    w.send({"cmd": "claim", "ticket": ticket})
    job = w.event(lambda e: e.get("event") in ("claimed", "error") and e.get("ticket") == ticket)
    assert job["event"] == "claimed", job
    return job


def status(s, ticket):
    code, st, err = s.cli_json("status", str(ticket))
    assert code == 0, (code, st, err)
    return st


def test_worker_flow(bindir):
    with System(bindir) as s:
        s.broker()
        w = s.worker("v01", "袁建成", "pipe", "--max-jobs", "5")
        photos = os.path.join(s.dir, "phone")
        os.mkdir(photos)
        jpg = os.path.join(photos, "修前.jpg")
        with open(jpg, "wb") as f:
            f.write(JPEG)
        txt = os.path.join(photos, "notes.jpg")  # the name lies; the bytes are text
        with open(txt, "w", encoding="utf-8") as f:
            f.write("这不是照片 not a photo\n")

        # Claim, then progress with a photo.
        t1 = submit(s, "厨房下水道堵了")
        job = claim(w, t1)
        w.send({"cmd": "progress", "ticket": t1, "note": "已到现场，需要买配件", "id": "p1",
                "photos": [{"path": jpg, "kind": "before"}]})
        ev = w.event(lambda e: e.get("id") == "p1")
        assert ev["event"] == "progress", ev
        assert ev["ticket"] == t1 and ev["photos"] == 1 and ev["lease_until"], ev
        assert ev["lease_until"] >= job["lease_until"], (ev, job)
        assert job["deadline_at"] > job["lease_until"], job  # the service deadline, not the hold

        st = status(s, t1)
        atts = st["attachments"]
        sha = hashlib.sha256(JPEG).hexdigest()
        assert len(atts) == 1, atts
        assert atts[0]["kind"] == "before" and atts[0]["sha256"] == sha, atts
        assert atts[0]["name"] == "修前.jpg" and atts[0]["size"] == len(JPEG), atts
        stored = os.path.join(s.dir, "archive", sha[:2], sha + ".jpg")
        with open(stored, "rb") as f:
            assert f.read() == JPEG, "the archived photo is the one sent"
        assert any(e["kind"] == "progress" for e in st["events"]), st["events"]

        # A text file as a photo never leaves the worker.
        events_before = len(status(s, t1)["events"])
        w.send({"cmd": "done", "ticket": t1, "note": "疏通完毕", "photos": [jpg, txt], "id": "p2"})
        ev = w.event(lambda e: e.get("id") == "p2")
        assert ev["event"] == "error" and ev["code"] == "bad_photo", ev
        assert ev["photo"] == txt and "not a photo" in ev["message"], ev
        st = status(s, t1)
        assert st["request"]["status"] == "claimed" and len(st["events"]) == events_before, st
        assert len(st["attachments"]) == 1

        # Decline: the offer is withdrawn and not made again. A later request
        # is offered, the declined one is not.
        t2 = submit(s, "卫生间地漏堵了", building="市政小区 5栋")
        w.event(is_event("offer", t2))
        w.send({"cmd": "decline", "ticket": t2, "reason": "不在附近"})
        w.event(is_event("declined", t2))
        w.send({"cmd": "offers"})
        offers = w.event(is_event("offers"))["offers"]
        assert t2 not in [o["ticket"] for o in offers], offers
        t3 = submit(s, "阳台水管漏水", building="市政小区 6栋")
        seen = []
        w.event(lambda e: seen.append(e) or (e.get("event") == "offer" and e.get("ticket") == t3))
        time.sleep(1.0)  # a few dispatch rounds (heartbeat 300 ms)
        w.send({"cmd": "offers"})
        offers = w.event(is_event("offers"))["offers"]
        assert t2 not in [e.get("ticket") for e in seen if e.get("event") == "offer"], seen
        assert t2 not in [o["ticket"] for o in offers], offers
        assert status(s, t2)["request"]["status"] == "open"

        # Can't fix: back to open, one attempt counted, the job leaves the list.
        w.send({"cmd": "cantfix", "ticket": t1, "reason": "需要更换主管道"})
        ev = w.event(is_event("cantfix", t1))
        assert ev["status"] == "open" and ev["attempts"] == 1, ev
        w.send({"cmd": "jobs"})
        assert t1 not in [j["ticket"] for j in w.event(is_event("jobs"))["jobs"]]
        assert status(s, t1)["request"]["status"] == "open"

        # Escalate to a department.
        claim(w, t3, wait_offer=False)  # its offer was seen above
        w.send({"cmd": "escalate", "ticket": t3, "department": "water_company",
                "reason": "小区主管道破裂"})
        ev = w.event(lambda e: e.get("ticket") == t3 and e.get("event") in ("escalated", "error"))
        assert ev["event"] == "escalated" and ev["status"] == "escalated", ev
        assert ev["department"] == "water_company", ev
        assert status(s, t3)["request"]["status"] == "escalated"

        # The office cancels a claimed job: the worker is told and forgets it.
        t4 = submit(s, "门锁坏了", building="市政小区 8栋")
        claim(w, t4)
        code, out, err = s.cli_json("cancel", str(t4), "--channel", "office", "--reason", "居民已自行解决")
        assert code == 0, (code, out, err)
        ev = w.event(is_event("revoked", t4))
        assert ev["reason"] == "cancelled", ev
        assert ev["note"] == "居民已自行解决", ev  # the office's own words reach the volunteer
        w.send({"cmd": "jobs"})
        assert t4 not in [j["ticket"] for j in w.event(is_event("jobs"))["jobs"]]

        for p in s.procs:
            assert p.stop() == 0, f"{p.name} did not stop cleanly"


def test_interactive_photo_words(bindir):
    """The same as a person types it: @before:FILE words, Chinese aliases."""
    with System(bindir) as s:
        s.broker()
        w = s.start("worker v02", [s.prog("bianmin-worker"), "--id", "v02", "--name", "张师傅",
                                   "--skills", "pipe", "--broker", s.worker_ep,
                                   "--key", s.key("volunteer:v02", "张师傅", "pipe")], stdin=True)
        jpg = os.path.join(s.dir, "after.jpg")
        with open(jpg, "wb") as f:
            f.write(JPEG + b"after")
        t = submit(s, "厨房下水道堵了")

        def text_line(pred, timeout=10):
            deadline = time.time() + timeout
            seen = []
            while time.time() < deadline:
                try:
                    line = w.lines.get(timeout=max(0.01, deadline - time.time()))
                except Exception:
                    continue
                seen.append(line)
                if pred(line):
                    return line
            raise AssertionError(f"no matching line; saw {seen[-10:]}; stderr {w.err_lines[-5:]}")

        def say(line):
            w.p.stdin.write((line + "\n").encode())
            w.p.stdin.flush()

        text_line(lambda l: f"New job #{t}" in l)
        say(f"接单 {t}")
        text_line(lambda l: f"接单成功 Claimed #{t}" in l)
        say(f"完成 {t} 疏通完毕 @after:{jpg}")
        line = text_line(lambda l: f"Done #{t}" in l or "Error" in l)
        assert "1 张照片已存档" in line, line
        st = status(s, t)
        assert st["request"]["status"] == "done"
        assert [a["kind"] for a in st["attachments"]] == ["after"], st["attachments"]
        say("help")
        text_line(lambda l: "修不了" in l)
        assert w.stop() == 0


if __name__ == "__main__":
    main([test_worker_flow, test_interactive_photo_words])
