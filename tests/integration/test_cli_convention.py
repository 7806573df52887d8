"""The CLI's one convention and the office's month, through the real programs:
Chinese-first messages with "did you mean", --json lines for every error
(usage errors too), global options after the command, the exit-code table,
refused config keys, departments, time zones (IANA, +08:00, UTC+8, a bad TZ),
the current month aged against now, the rating of a reopened-then-refixed
request, CSV cells neutralised in the export, and every program's --help
Chinese first with English beside, limits in characters, within its width."""
import csv
import datetime
import json
import os
import re
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402


def submit(s, text="厨房下水道堵了", building="市政小区 3栋", category="pipe"):
    code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", category,
                                "--building", building, "--contact", "罗女士 13800000000",
                                "--text", text)
    assert code == 0, (code, out, err)
    return int(out["ticket"])


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_words_suggestions_and_json_errors(bindir):
    with System(bindir) as s:
        s.broker()
        # A typo in an enumerated input: usage error, Chinese first, did you mean.
        code, out, err = s.cli("list", "--category", "pipes")
        assert code == 1, (code, out, err)
        assert "未知类别 \"pipes\" / unknown category \"pipes\"" in err, err
        assert "did you mean: pipe 管道疏通?" in err and "见 / see: bianmin list --help" in err, err
        # The Chinese label --help prints is accepted.
        t = submit(s, category="漏水抢修")
        code, out, err = s.cli_json("list", "--category", "漏水抢修")
        assert code == 0 and [r["ticket"] for r in out["requests"]] == [t], (code, out, err)
        # --json after the command; a usage error is one JSON line on stdout.
        code, out, err = s.cli("list", "--channel", "form", "--json")
        assert code == 1, (code, out, err)
        lines = json_lines(out)
        assert len(lines) == 1 and lines[0]["code"] == "usage" and lines[0]["exit"] == 1, out
        assert "did you mean: forum" in lines[0]["message"], lines
        # An unknown command: did you mean, as JSON too.
        code, out, err = s.cli("--json", "lsit")
        assert code == 1 and "did you mean: list" in json_lines(out)[0]["message"], (out, err)
        # Global options after the command: --broker and --timeout.
        code, out, err = s.cli("status", str(t), "--timeout", "3000", "--json")
        assert code == 0 and json_lines(out)[0]["request"]["ticket"] == t, (code, out, err)
        # Broker errors as JSON lines, exit 2.
        code, out, err = s.cli("status", "999999", "--json")
        assert code == 2 and json_lines(out)[0]["code"] == "not_found", (code, out, err)


def test_station_choices(bindir):
    """A station configured with its own categories and channels: the CLI, with
    no BIANMIN_CONFIG, checks what is typed against the broker's lists (asked
    with `choices`), not against the built-in defaults."""
    cats = [{"name": "pipe", "label": "管道疏通"}, {"name": "gas", "label": "燃气维修", "urgent": True}]
    with System(bindir, {"categories": cats, "channels": ["building_leader", "hotline"]}) as s:
        s.broker()
        # A category the defaults lack, by name and by its Chinese label.
        t1 = submit(s, category="gas")
        t2 = submit(s, category="燃气维修")
        assert s.sql("SELECT category FROM requests WHERE id IN (?, ?)", t1, t2) == [("gas",), ("gas",)]
        code, out, err = s.cli_json("list", "--category", "燃气维修")
        assert code == 0 and sorted(r["ticket"] for r in out["requests"]) == [t1, t2], (code, out, err)
        # A configured channel the defaults lack.
        code, out, err = s.cli_json("list", "--channel", "hotline")
        assert code == 0 and out["requests"] == [], (code, out, err)
        # Typos are refused by the CLI with the station's choices and "did you mean".
        code, out, err = s.cli("list", "--category", "gass")
        assert code == 1, (code, out, err)
        assert "未知类别 \"gass\" / unknown category \"gass\"" in err, err
        assert "did you mean: gas 燃气维修?" in err and "可选 / choices: pipe 管道疏通, gas 燃气维修" in err, err
        code, out, err = s.cli("list", "--channel", "hotlin")
        assert code == 1 and "did you mean: hotline?" in err, (code, out, err)
        # A default this station does not have is refused, not sent.
        code, out, err = s.cli("submit", "--channel", "building_leader", "--category", "lock",
                               "--building", "3栋", "--contact", "罗女士", "--text", "门锁坏了")
        assert code == 2 and "unknown category \"lock\"" in err and "known: pipe 管道疏通, gas 燃气维修" in err, (code, out, err)
        # A bridge (any client) sending a typo to the broker gets the station's suggestion,
        # and a list filtered by an unknown category is refused, not "no requests match".
        code, out, err = s.cli("submit", "--stdin", stdin=json.dumps(
            {"channel": "building_leader", "category": "gass", "building": "3栋",
             "contact": "罗女士", "text": "燃气味"}) + "\n")
        assert "unknown_category" in out and "did you mean \\\"gas\\\"?" in out, (code, out, err)
        code, out, err = s.cli_json("list", "--category", "pipe")
        assert code == 0 and out["requests"] == [], (code, out, err)


def test_exit_code_table(bindir):
    with System(bindir) as s:
        # 3: nobody listening.
        code, out, err = s.cli("--timeout", "300", "status", "1")
        assert code == 3, (code, out, err)
        s.broker()
        assert s.cli("status", "1")[0] == 2  # refused: not_found
        assert s.cli("status", "x")[0] == 1  # usage
        assert s.cli("volunteers")[0] == 0
        # 4: a config file with a mistyped key, refused with its closest key.
        bad = os.path.join(s.dir, "typo.json")
        with open(bad, "w", encoding="utf-8") as f:
            json.dump({"callback_secrt": "x", "database": s.db}, f)
        code, out, err = s.cli("stats", "--month", "2026-11", "--config", bad, "--json")
        assert code == 4, (code, out, err)
        e = json_lines(out)[0]
        assert "unknown key callback_secrt" in e["message"], e
        assert "did you mean \"callback_secret\"" in e["message"] and "未知设置" in e["message"], e
        # The broker refuses to start on it, naming the key.
        p = s.start("bad broker", [s.prog("bianmin-broker"), "--config", bad])
        assert p.p.wait(10) == 4  # the same table for every program
        p.stop()
        assert any("callback_secrt" in line and "callback_secret" in line for line in p.err_lines), \
            p.err_lines
        # The other programs use the same table: usage 1, a key file that cannot be used 4.
        for prog, args, want in (
                ("bianmin-worker", ["--no-such-flag"], 1),
                ("bianmin-notifier", ["--parallel", "0"], 1),
                ("bianmin-broker", ["--no-such-flag"], 1),
                ("bianmin-notifier", ["--key", os.path.join(s.dir, "missing.key"), "--broker", s.client_ep], 4),
                ("bianmin-worker", ["--key", os.path.join(s.dir, "missing.key"), "--broker", s.worker_ep], 4)):
            r = subprocess.run([s.prog(prog)] + args, capture_output=True, timeout=20,
                               stdin=subprocess.DEVNULL)
            assert r.returncode == want, (prog, args, r.returncode, r.stderr.decode()[-400:])
        # The exit codes are in --help.
        code, out, _ = s.cli("--help")
        assert code == 0 and "4  配置错误" in out and "docs/cli.md" in out, out


def test_departments(bindir):
    with System(bindir) as s:
        s.broker()
        code, out, err = s.cli_json("departments")
        assert code == 0, (code, out, err)
        ids = {d["id"]: d["name"] for d in out["departments"]}
        assert ids["water_company"] == "自来水公司" and ids["street_office"] == "街道办事处", ids
        code, text, _ = s.cli("departments")
        assert code == 0 and "自来水公司" in text, text
        t = submit(s)
        code, out, err = s.cli_json("escalate", str(t), "--department", "water_compnay",
                                    "--reason", "主管道破裂")
        assert code == 2 and out["code"] == "unknown_department", (code, out, err)
        assert "did you mean \"water_company\"" in out["message"], out
        assert s.sql("SELECT status FROM requests WHERE id = ?", t) == [("open",)]
        code, out, err = s.cli_json("escalate", str(t), "--department", "water_company",
                                    "--reason", "主管道破裂")
        assert code == 0 and out["status"] == "escalated", (code, out, err)


def test_time_zones_and_current_month(bindir):
    with System(bindir) as s:
        s.broker()
        t = submit(s)
        now = datetime.datetime.now(datetime.timezone.utc)
        month = now.strftime("%Y-%m")
        base = ("stats", "--month", month, "--db", s.db, "--json")
        # The current month: an hour-old (here: seconds-old) request is under "< 1 day".
        code, out, err = s.cli(*base, "--tz", "UTC")
        assert code == 0, (code, out, err)
        r = json.loads(out)
        assert r["open_at_end"]["total"] == 1 and r["open_at_end"]["lt_1d"] == 1, r["open_at_end"]
        assert r["open_at_end"]["ge_7d"] == 0 and r["as_of"] < r["until"], r
        code, text, err = s.cli("stats", "--month", month, "--db", s.db, "--tz", "UTC")
        assert code == 0 and "截至" in text and "open now" in text, (code, text, err)
        # IANA names and +08:00 offsets; both mean east of UTC.
        for tz in ("Asia/Shanghai", "+08:00", "+8"):
            code, out, err = s.cli(*base, "--tz", tz)
            assert code == 0 and json.loads(out)["tz"] == tz, (tz, code, err)
        code, out, err = s.cli("stats", "--month", "2026-11", "--db", s.db, "--json",
                               "--tz", "+08:00")
        assert json.loads(out)["from"] == "2026-10-31T16:00:00.000Z", out
        # UTC+8 would be UTC-8 for POSIX: refused with what to write.
        code, out, err = s.cli(*base, "--tz", "UTC+8")
        e = json_lines(out)[0]
        assert code == 1 and e["field"] == "tz" and "+08:00" in e["message"], (code, out)
        # A bad zone, and a bad TZ in the environment: errors, never quietly UTC.
        code, out, err = s.cli(*base, "--tz", "Asia/Shangai")
        assert code == 1 and "未知时区" in out, (code, out)
        env = dict(s.env)
        s.env["TZ"] = "Mars/Olympus"
        try:
            code, out, err = s.cli(*base)
            assert code == 1 and "TZ" in json_lines(out)[0]["message"], (code, out, err)
            # the config's time_zone wins over TZ
            cfg = os.path.join(s.dir, "office.json")
            with open(cfg, "w", encoding="utf-8") as f:
                json.dump({"database": s.db, "time_zone": "Asia/Shanghai"}, f)
            code, out, err = s.cli("stats", "--month", month, "--config", cfg, "--json")
            assert code == 0 and json.loads(out)["tz"] == "Asia/Shanghai", (code, out, err)
        finally:
            s.env = env
        assert t > 0


def test_rating_of_a_refixed_request_and_csv(bindir):
    with System(bindir) as s:
        s.broker()
        v1 = s.worker("v01", "袁建成", "pipe")
        t = submit(s, text="=HYPERLINK(\"http://x\")\n第二行", building="@SUM(A1)")
        v1.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        v1.send({"cmd": "claim", "ticket": t})
        v1.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == t)
        v1.send({"cmd": "done", "ticket": t, "note": "疏通了", "id": "d1"})
        v1.event(lambda e: e.get("id") == "d1")
        code, out, err = s.cli("reopen", str(t), "--channel", "building_leader", "--reason",
                               "还是堵")
        assert code == 0, (code, out, err)
        v1.stop()
        v2 = s.worker("v02", "李芳", "pipe")
        v2.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        v2.send({"cmd": "claim", "ticket": t})
        v2.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == t)
        v2.send({"cmd": "done", "ticket": t, "note": "换了管子", "id": "d2"})
        v2.event(lambda e: e.get("id") == "d2")
        code, out, err = s.cli("rate", str(t), "5", "--channel", "building_leader")
        assert code == 0, (code, out, err)
        month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
        code, out, err = s.cli("stats", "--month", month, "--db", s.db, "--tz", "UTC", "--json")
        vols = {v["id"]: v for v in json.loads(out)["volunteers"]}
        # The rating is about v02's fix; v01's failed first fix inherits nothing.
        assert vols["v01"]["completed"] == 1 and vols["v01"]["rated"] == 0, vols
        assert vols["v02"]["rated"] == 1 and vols["v02"]["mean_rating"] == 5, vols
        # The export: cells a spreadsheet would run are neutralised, actors are
        # names, line breaks in residents' text are kept.
        out_dir = os.path.join(s.dir, "case")
        code, out, err = s.cli("export", "--month", month, "--db", s.db, "--tz", "UTC", out_dir,
                               "--json")
        assert code == 0 and json_lines(out)[-1]["ok"] is True, (code, out, err)
        with open(os.path.join(out_dir, "requests.csv"), encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows[0]["building"] == "'@SUM(A1)", rows[0]
        assert rows[0]["text"] == "'=HYPERLINK(\"http://x\")\n第二行", rows[0]
        with open(os.path.join(out_dir, "events.csv"), encoding="utf-8-sig", newline="") as f:
            names = {r["actor_name"] for r in csv.DictReader(f)}
        assert "袁建成（志愿者 v01）" in names and "李芳（志愿者 v02）" in names and "楼栋长" in names, names
        # status: the current attempt; the rating is this attempt's.
        code, text, _ = s.cli("status", str(t))
        assert "第 2 次处理" in text and "★★★★★ 5/5" in text and "上次评分" not in text, text


def columns(line):
    """Terminal columns a line takes: CJK (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def chinese_first(line):
    """The line holds Chinese, and the first Chinese comes before the first
    English word (a run of 3+ letters, e.g. "usage")."""
    cjk = CJK.search(line)
    word = re.search(r"[A-Za-z]{3,}", line)
    return cjk is not None and (word is None or cjk.start() < word.start())


def test_help_texts(bindir):
    with System(bindir) as s:
        def help_of(prog, *args):
            r = subprocess.run([s.prog(prog), *args, "--help"], capture_output=True, timeout=30,
                               env=s.env)
            out = r.stdout.decode()
            assert r.returncode == 0 and out, (prog, args, r.returncode, r.stderr)
            return out

        # bianmin's global help lists every command, each Chinese first; every
        # command's own help is Chinese first too.
        top = help_of("bianmin")
        listed = top.split("命令 / commands:\n", 1)[1].split("\n  (", 1)[0].splitlines()
        commands = [line.split()[0] for line in listed]
        assert "submit" in commands and "users" in commands and len(commands) >= 19, commands
        for line in listed:
            assert chinese_first(line.split(None, 1)[1]) and " / " in line, line
        texts = {("bianmin",): top}
        for c in commands:
            texts[("bianmin", c)] = help_of("bianmin", c)
        for prog in ["bianmin-worker", "bianmin-notifier", "bianmin-broker", "bianmin-gateway",
                     "bianmin-demo"]:
            texts[(prog,)] = help_of(prog)
        for key, text in texts.items():
            lines = text.splitlines()
            assert chinese_first(lines[0]) and "usage" in lines[0], (key, lines[0])
            # Lines fit 80 columns; the volunteer's fit a 60-column phone terminal.
            limit = 60 if key == ("bianmin-worker",) else 80
            wide = [line for line in lines if columns(line) > limit]
            assert wide == [], (key, wide)
            # Bilingual throughout: Chinese on many lines, English on many.
            assert sum(1 for line in lines if CJK.search(line)) >= 3, key
            assert sum(1 for line in lines if re.search(r"[a-z]{3,} [a-z]{3,}", line)) >= 2, key

        # Limits on what people type are said in characters.
        assert "约1333个汉字" in texts[("bianmin", "submit")], texts[("bianmin", "submit")]
        assert "约66个汉字" in texts[("bianmin", "submit")]
        for c in ["cancel", "reopen", "escalate", "resolve"]:
            assert "最多约1333个汉字" in texts[("bianmin", c)], c
        assert "最多约333个汉字" in texts[("bianmin", "rate")]
        assert "约33个汉字" in texts[("bianmin", "keys")]
        assert "约33个汉字" in texts[("bianmin-worker",)]
        assert "约1333个汉字" in texts[("bianmin-worker",)]
        # Testing-only flags stay hidden.
        assert "--fault" not in texts[("bianmin-broker",)], texts[("bianmin-broker",)]
        # The notifier names its refusals as they are recorded.
        assert "拒绝发送：... / refused: ..." in texts[("bianmin-notifier",)]


if __name__ == "__main__":
    main([test_words_suggestions_and_json_errors, test_station_choices, test_exit_code_table, test_departments,
          test_time_zones_and_current_month, test_rating_of_a_refixed_request_and_csv,
          test_help_texts])
