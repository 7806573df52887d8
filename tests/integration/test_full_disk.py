"""A real full disk: the database on a small tmpfs (mounted here when running
as root, skipped otherwise) fills up under a stream of submits, then space
comes back. After a restart every acknowledged ticket is there with its own
ref and text, no storage_error'd one is, and no ticket number was given twice."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

TMPFS_SIZE = "3m"
TEXT = "水管爆了，" + "x" * 3000


def submit_lines(s, refs):
    lines = "".join(json.dumps({"channel": "forum", "category": "pipe", "building": "3栋",
                                "contact": "c", "text": f"{r} {TEXT}", "ref": r}) + "\n"
                    for r in refs)
    code, out, err = s.cli("submit", "--stdin", stdin=lines, timeout=120)
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(results) == len(refs), (code, err[-500:])
    return results


def run_full_disk(bindir, mnt):
    # Development mode (no keys): this test is about the disk, not about who may submit.
    with System(bindir, {"database": os.path.join(mnt, "bianmin.db"), "auth": "none",
                         "submit_per_min": 0, "submit_per_day": 0}) as s:
        broker = s.broker()
        outcome = {}  # ref -> ticket (ok) or None (storage_error)
        refs = [f"fill-{i}" for i in range(1500)]  # ~4.5 MB of text: more than the disk
        for r, res in zip(refs, submit_lines(s, refs)):
            if res["ok"]:
                outcome[r] = res["ticket"]
            else:
                assert res["code"] == "storage_error", res
                outcome[r] = None
        refused = sum(1 for v in outcome.values() if v is None)
        assert refused > 0, "the disk never filled"
        assert refused < len(refs), "nothing was accepted"
        # Space comes back: the same broker accepts again.
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        more = [f"after-{i}" for i in range(50)]
        for r, res in zip(more, submit_lines(s, more)):
            assert res["ok"], res
            outcome[r] = res["ticket"]
        broker.stop(signal.SIGTERM)
        s.procs.remove(broker)
        s.broker()  # restarts on the same database
        con = sqlite3.connect(f"file:{os.path.join(mnt, 'bianmin.db')}?mode=ro", uri=True)
        try:
            rows = {ref: (tid, text) for tid, ref, text in con.execute("SELECT id, ref, text FROM requests")}
        finally:
            con.close()
        for ref, ticket in outcome.items():
            if ticket is None:
                assert ref not in rows, f"{ref} was answered storage_error but is stored"
            else:
                assert ref in rows, f"{ref} was acknowledged as ticket {ticket} but is lost"
                assert rows[ref][0] == ticket and rows[ref][1].startswith(ref + " "), (ref, rows[ref])
        oks = [t for t in outcome.values() if t is not None]
        assert len(oks) == len(set(oks)), "a ticket number was given twice"
        for p in reversed(s.procs):
            p.stop(signal.SIGTERM)
        s.procs.clear()


def test_real_full_disk(bindir):
    if os.geteuid() != 0:
        print("SKIP test_real_full_disk: needs root to mount a small tmpfs "
              "(跳过：需要 root 权限挂载小的 tmpfs)", flush=True)
        raise SystemExit(77)
    mnt = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bm-full-{os.getpid()}")
    os.makedirs(mnt, exist_ok=True)
    mounted = False
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", mnt],
                       check=True)
        mounted = True
        run_full_disk(bindir, mnt)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", mnt], check=False)
        shutil.rmtree(mnt, ignore_errors=True)


if __name__ == "__main__":
    main([test_real_full_disk])
