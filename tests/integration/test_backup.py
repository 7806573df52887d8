"""Backup and restore (docs/operations.md).

  drill:   requests with photos, then `bianmin backup` while submits keep
           arriving; the backup is restored into a new folder and a broker is
           started on it: every request acknowledged before the backup began
           is there, with its photos (bytes checked). A running broker's
           database is never replaced.
  refuses: restore checks everything before touching anything: a changed
           photo, a changed database, a missing manifest are refused and
           nothing is written; an existing database needs --force and is then
           kept aside. Retention keeps N backups; photos already backed up are
           hard links, not copies. Folders 0700, files 0600."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

JPEG_HEAD = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + b"JFIF\x00\x01"


def photo(i):
    return JPEG_HEAD + f"photo {i} 照片".encode() * 8 + b"\xff\xd9"


def submit(s, text):
    code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", "pipe",
                                "--building", "市政小区 3栋", "--contact", "罗女士 13800000000",
                                "--text", text)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def done_with_photo(s, w, ticket, i):
    path = os.path.join(s.dir, f"p{i}.jpg")
    with open(path, "wb") as f:
        f.write(photo(i))
    w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == ticket)
    w.send({"cmd": "claim", "ticket": ticket})
    w.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == ticket)
    w.send({"cmd": "done", "ticket": ticket, "note": "疏通完毕", "photos": [path]})
    ev = w.event(lambda e: e.get("event") in ("done", "error") and e.get("ticket") == ticket)
    assert ev["event"] == "done" and ev["photos"] == 1, ev
    return hashlib.sha256(photo(i)).hexdigest()


def admin(s, *args):
    """Runs a local admin command (backup/restore) with --json; (code, obj, stderr)."""
    r = subprocess.run([s.prog("bianmin"), "--json", *args], capture_output=True, timeout=120,
                       env=s.env)
    out = r.stdout.decode()
    return r.returncode, json.loads(out) if out.strip() else None, r.stderr.decode()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_restore_drill_under_load(bindir):
    elsewhere = tempfile.mkdtemp(prefix="bm-restored-")  # outlives the first system's folder
    try:
        drill(bindir, os.path.join(elsewhere, "restored", "bianmin.db"))
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def drill(bindir, new_db):
    with System(bindir) as s:
        s.broker()
        w = s.worker("v01", "袁建成", "pipe")
        photos = {}
        for i in range(4):
            t = submit(s, f"厨房下水道堵了 {i}")
            photos[t] = done_with_photo(s, w, t, i)
        w.stop()
        acked = []  # (ticket, time the ok arrived)
        stop = threading.Event()

        def load():
            n = 0
            while not stop.is_set():
                t = submit(s, f"负载 load {n}")
                acked.append((t, time.time()))
                n += 1

        th = threading.Thread(target=load)
        th.start()
        try:
            while len(acked) < 20:
                time.sleep(0.02)
            began = time.time()
            before = [t for t, at in acked if at < began]
            backups = os.path.join(s.dir, "backups")
            code, res, err = admin(s, "backup", "--db", s.db, backups)
            assert code == 0, (code, res, err)
            while len(acked) < len(before) + 10:  # submits went on during and after it
                time.sleep(0.02)
        finally:
            stop.set()
            th.join(30)
        assert res["photos"] == 4 and res["photos_copied"] == 4, res
        bk = res["path"]
        assert os.path.dirname(bk) == backups and os.path.basename(bk).startswith("bianmin-"), bk
        assert mode(backups) == 0o700 and mode(bk) == 0o700, (oct(mode(backups)), oct(mode(bk)))
        for f in ["bianmin.db", "manifest.json", "SHA256SUMS"]:
            assert mode(os.path.join(bk, f)) == 0o600, f
        # The backup folder checks out with the standard tool too.
        r = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=bk, capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr

        # A running broker's database is never replaced, not even with --force.
        code, res2, err = admin(s, "restore", bk, "--db", s.db, "--force")
        assert code == 2 and res2["code"] == "forbidden" and "open in process" in res2["message"], res2

        # Restore into a new folder and start a broker there.
        code, res3, err = admin(s, "restore", bk, "--db", new_db)
        assert code == 0, (code, res3, err)
        assert res3["photos_copied"] == 4 and res3["requests"] >= len(before) + 4, (res3, len(before))
        assert mode(new_db) == 0o600 and mode(os.path.dirname(new_db)) == 0o700
        old_keys = os.path.join(os.path.dirname(new_db), "..", "keys-copy")
        shutil.copytree(s.keys, old_keys)
    # The keys are not in a backup (docs/operations.md, "Keys"): they are put back
    # from their own copy, beside the restored database.
    keys = os.path.join(os.path.dirname(new_db), "keys")
    shutil.copytree(old_keys, keys)
    with System(bindir, {"database": new_db, "key_dir": keys}) as s2:
        s2.db = new_db
        s2.keys = keys
        s2.office_key = os.path.join(keys, "office.key")
        s2.broker()
        ids = {row[0] for row in s2.sql("SELECT id FROM requests")}
        missing = [t for t in before + list(photos) if t not in ids]
        assert not missing, f"acknowledged before the backup but not restored: {missing}"
        for t, sha in photos.items():
            code, st, err = s2.cli_json("status", str(t))
            assert code == 0 and st["request"]["status"] == "done", (code, st, err)
            assert [a["sha256"] for a in st["attachments"]] == [sha], st["attachments"]
            with open(os.path.join(os.path.dirname(new_db), "archive", sha[:2], sha + ".jpg"), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == sha
        # The restored system keeps working: a new ticket follows the old ones.
        t = submit(s2, "恢复后的新工单")
        assert t > max(ids), (t, max(ids))


def test_restore_refuses_damage_and_keeps_retention(bindir):
    with System(bindir) as s:
        s.broker()
        w = s.worker("v01", "袁建成", "pipe")
        t = submit(s, "水管漏了")
        sha = done_with_photo(s, w, t, 7)
        backups = os.path.join(s.dir, "backups")
        made = []
        for _ in range(3):
            code, res, err = admin(s, "backup", "--db", s.db, "--keep", "2", backups)
            assert code == 0, (code, res, err)
            made.append(res)
        assert made[0]["photos_copied"] == 1 and made[1]["photos_linked"] == 1, made
        assert made[2]["removed"] == 1, made[2]
        kept = sorted(d for d in os.listdir(backups) if d.startswith("bianmin-"))
        assert [os.path.join(backups, d) for d in kept] == [made[1]["path"], made[2]["path"]], kept
        rel = os.path.join("photos", sha[:2], sha + ".jpg")
        assert os.stat(os.path.join(made[2]["path"], rel)).st_nlink == 2, "photo not hard-linked"
        good = made[2]["path"]
        code, res, err = admin(s, "restore", good, "--db", os.path.join(s.dir, "x.db"), "--check")
        assert code == 0 and res["photos"] == 1, (code, res, err)
        assert not os.path.exists(os.path.join(s.dir, "x.db")), "--check wrote something"

        def damaged(name, change):
            d = os.path.join(s.dir, name)
            shutil.copytree(good, d)  # real copies: the good backup stays good
            change(d)
            return d

        def flip_byte(path, offset):
            with open(path, "r+b") as f:
                f.seek(offset)
                b = f.read(1)
                f.seek(offset)
                f.write(bytes([b[0] ^ 0xFF]))

        cases = {
            "photo": damaged("bad-photo", lambda d: flip_byte(os.path.join(d, rel), 20)),
            "db": damaged("bad-db", lambda d: flip_byte(os.path.join(d, "bianmin.db"), 5000)),
            "manifest": damaged("no-manifest", lambda d: os.remove(os.path.join(d, "manifest.json"))),
            "missing photo": damaged("no-photo", lambda d: os.remove(os.path.join(d, rel))),
        }
        for what, d in cases.items():
            target = os.path.join(s.dir, "t-" + what.replace(" ", "-"), "bianmin.db")
            code, res, err = admin(s, "restore", d, "--db", target)
            assert code == 2, (what, code, res, err)
            assert not os.path.exists(os.path.dirname(target)), f"{what}: something was written"
        # An existing database: refused without --force, kept aside with it.
        target = os.path.join(s.dir, "existing", "bianmin.db")
        os.makedirs(os.path.dirname(target))
        with open(target, "wb") as f:
            f.write(b"old")
        code, res, err = admin(s, "restore", good, "--db", target)
        assert code == 2 and res["code"] == "forbidden" and "--force" in res["message"], res
        with open(target, "rb") as f:
            assert f.read() == b"old"
        code, res, err = admin(s, "restore", good, "--db", target, "--force")
        assert code == 0, (code, res, err)
        with open(res["moved_aside"], "rb") as f:
            assert f.read() == b"old"
        r = subprocess.run(["sqlite3", target, "SELECT count(*) FROM requests"], capture_output=True)
        assert r.stdout.strip() == b"1", r


if __name__ == "__main__":
    main([test_restore_drill_under_load, test_restore_refuses_damage_and_keeps_retention])
