"""The office's HTML pages in a real browser: `bianmin stats --html` and
`bianmin export`'s index.html and page of cases, generated from a fixture database (the schema
from schema/*.sql, rows with fixed timestamps), opened in headless Chromium
with --dump-dom and --screenshot. Checks the page renders, has the three SVG
charts and the Chinese labels, shows no injected markup, and that export's
page shows the copied photo. Skipped (exit 77) if Chromium is not installed:
this test installs nothing (scripts/install-deps does)."""
import argparse
import glob
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "..", "schema")
SKIP = 77
HOUR = 3600 * 1000


def ms(y, mo, d, h=0, mi=0):
    import calendar
    return calendar.timegm((y, mo, d, h, mi, 0)) * 1000


def tiny_png():
    """A valid 4x4 PNG (blue), built with zlib."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x20\x60\xc0" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_fixture(db_path, archive):
    con = sqlite3.connect(db_path)
    for f in sorted(glob.glob(os.path.join(SCHEMA, "*.sql"))):
        con.executescript(open(f, encoding="utf-8").read())
    con.execute("PRAGMA user_version = %d" % len(glob.glob(os.path.join(SCHEMA, "*.sql"))))
    con.execute("INSERT INTO volunteers VALUES ('v01', '袁建成', 'pipe,leak', 2, 0, 0)")
    con.execute("INSERT INTO volunteers VALUES ('v02', '李芳', 'repair,lock', 1, 0, 0)")
    cats = ["pipe", "leak", "repair", "lock", "other"]
    buildings = ["市政小区 3栋", "幸福里 1栋", "<b>和平路</b> 5号"]
    rid = 0

    def ev(r, at, actor, kind, frm=None, to=None, detail="{}"):
        con.execute("INSERT INTO events(request_id, at, actor, kind, from_status, to_status,"
                    " detail) VALUES (?,?,?,?,?,?,?)", (r, at, actor, kind, frm, to, detail))
        return con.execute("SELECT last_insert_rowid()").fetchone()[0]

    # Twelve months of history so the trend has bars and a CSAT line.
    for month_back in range(12):
        y, m = 2026, 11 - month_back
        if m < 1:
            y, m = y - 1, m + 12
        n = 3 + (month_back * 7) % 9
        for i in range(n):
            rid += 1
            day = 1 + (i * 5 + month_back) % 27
            created = ms(y, m, day, 2 + i % 10)
            cat = cats[(i + month_back) % len(cats)]
            vol = "v01" if i % 2 else "v02"
            con.execute(
                "INSERT INTO requests(id, channel, category, priority, building, unit, contact,"
                " text, status, deadline_at, created_at, updated_at, volunteer_id, done_at,"
                " rating) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rid, ["building_leader", "forum", "council", "office"][i % 4], cat, 3,
                 buildings[i % 3], "2-301", "罗女士 13800000000",
                 "厨房下水道堵了 <script>alert(1)</script>", "done", created + 48 * HOUR, created,
                 created, vol, created + (1 + i % 30) * HOUR, None))
            ev(rid, created, "channel:forum", "received", None, "open")
            ev(rid, created + 600000 * (1 + i % 5), "volunteer:" + vol, "claimed", "open",
               "claimed")
            done_ev = ev(rid, created + (1 + i % 30) * HOUR, "volunteer:" + vol, "completed",
                         "claimed", "done", '{"note": "已修好，换了<i>阀门</i>"}')
            if i % 3 != 2 and month_back != 4:  # one month without ratings: a gap in the line
                ev(rid, created + 30 * HOUR, "channel:forum", "rated", None, None,
                   '{"score": %d}' % (5 - (i + month_back) % 4))
            if month_back == 0 and i == 0:
                png = tiny_png()
                import hashlib
                sha = hashlib.sha256(png).hexdigest()
                os.makedirs(os.path.join(archive, sha[:2]), exist_ok=True)
                with open(os.path.join(archive, sha[:2], sha + ".png"), "wb") as f:
                    f.write(png)
                con.execute("INSERT INTO attachments(request_id, event_id, sha256, mime, size,"
                            " kind, name, created_at) VALUES (?,?,?,?,?,?,?,?)",
                            (rid, done_ev, sha, "image/png", len(png), "after", "修好后.png",
                             created))
    con.commit()
    con.close()


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(browser, tmp, args, url):
    profile = tempfile.mkdtemp(prefix="profile-", dir=tmp)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", "--user-data-dir=" + profile] + args + [url]
    p = subprocess.run(cmd, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("chromium failed (%d): %s" % (p.returncode,
                                                          p.stderr.decode(errors="replace")))
    return p.stdout.decode("utf-8", errors="replace")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--keep", help="copy the screenshots into this folder")
    args = ap.parse_args()
    browser = find_chromium()
    if not browser:
        print("SKIP: chromium is not installed (scripts/install-deps installs it); "
              "the HTML report was not checked in a browser")
        return SKIP
    bianmin = os.path.join(args.bin, "bianmin")
    tmp = tempfile.mkdtemp(prefix="bm-report-")
    try:
        db = os.path.join(tmp, "bianmin.db")
        archive = os.path.join(tmp, "archive")
        make_fixture(db, archive)
        env = dict(os.environ, TZ="Asia/Shanghai")

        # the monthly report
        report = os.path.join(tmp, "report.html")
        subprocess.run([bianmin, "stats", "--month", "2026-11", "--tz", "Asia/Shanghai",
                        "--db", db, "--html", report], check=True, env=env)
        dom = chromium(browser, tmp, ["--dump-dom"], "file://" + report)
        check("<svg" in dom and 'id="chart-daily"' in dom, "the daily chart is in the DOM")
        check('id="chart-hist"' in dom, "the time-to-done histogram is in the DOM")
        check('id="chart-trend"' in dom, "the 12-month trend is in the DOM")
        check(dom.count("<rect") > 20, "the charts have bars")
        check('class="line"' in dom, "the satisfaction line is drawn")
        for label in ("便民服务月度统计", "每日受理量", "管道疏通", "满意度", "袁建成", "市政小区 3栋"):
            check(label in dom, "Chinese label %s rendered" % label)
        check("<b>和平路</b>" not in dom and "&lt;b&gt;和平路&lt;/b&gt;" in dom,
              "a building name with markup is shown as text")
        check("<script" not in dom, "no script in the page")
        shot = os.path.join(tmp, "report.png")
        chromium(browser, tmp, ["--screenshot=" + shot, "--window-size=1024,3000",
                                "--hide-scrollbars"], "file://" + report)
        check(os.path.getsize(shot) > 10000, "screenshot of the report taken")

        # the case archive
        out = os.path.join(tmp, "export")
        subprocess.run([bianmin, "export", "--month", "2026-11", "--tz", "Asia/Shanghai",
                        "--db", db, out], check=True, env=env)
        dom = chromium(browser, tmp, ["--dump-dom"], "file://" + os.path.join(out, "index.html"))
        check("便民服务案卷 2026-11" in dom and 'href="cases-0001.html"' in dom,
              "the archive's contents page renders and links the page of cases")
        page = os.path.join(out, "cases-0001.html")
        dom = chromium(browser, tmp, ["--dump-dom"], "file://" + page)
        check("便民服务案卷 2026-11" in dom, "the page of cases renders")
        check('src="photos/' in dom, "the archive page shows the copied photo")
        check("<script" not in dom and "&lt;script&gt;" in dom, "residents' text is escaped")
        check("已修好" in dom and "&lt;i&gt;阀门&lt;/i&gt;" in dom, "volunteers' notes are escaped")
        shot2 = os.path.join(tmp, "export.png")
        chromium(browser, tmp, ["--screenshot=" + shot2, "--window-size=1024,1600",
                                "--hide-scrollbars"], "file://" + page)
        check(os.path.getsize(shot2) > 5000, "screenshot of the archive page taken")
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            for f in (shot, shot2, report):
                shutil.copy(f, args.keep)
        print("PASS")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
