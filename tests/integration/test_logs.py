"""Logs: one line per event; with --log-format json every line of the broker
and the notifier is one JSON object (ts, level, prog, msg, src); and at debug
level, through a whole request (submit, offer, claim, progress, done,
webhooks, a refused submit), no process logs the resident's contact, phone
number, unit or the request's text."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

CONTACT = "欧阳娜娜"
PHONE = "13912345678"
UNIT = "9-901"
TEXT = "厨房天花板渗水"
SECRETS = [CONTACT, PHONE, UNIT, TEXT]


def test_json_logs_without_personal_data(bindir):
    with System(bindir, {"log_format": "json"}) as s:
        rx = s.receive()
        broker = s.broker("--log-level", "debug")
        notifier = s.notifier("--log-format", "json")
        w = s.worker("v01", "袁建成", "leak", "--log-level", "debug")
        code, out, err = s.cli_json("submit", "--channel", "building_leader", "--category", "leak",
                                    "--building", "市政小区 3栋", "--unit", UNIT,
                                    "--contact", f"{CONTACT} {PHONE}", "--text", TEXT,
                                    "--callback", rx.url())
        assert code == 0, (code, out, err)
        t = out["ticket"]
        offer = w.event(lambda e: e.get("event") == "offer" and e.get("ticket") == t)
        w.send({"cmd": "claim", "ticket": t})
        job = w.event(lambda e: e.get("event") == "claimed" and e.get("ticket") == t)
        assert PHONE in json.dumps(job, ensure_ascii=False), "the holder sees the contact"
        w.send({"cmd": "progress", "ticket": t, "note": f"联系了 {CONTACT}"})
        w.event(lambda e: e.get("event") == "progress")
        w.send({"cmd": "done", "ticket": t, "note": "已修好"})
        w.event(lambda e: e.get("event") == "done")
        rx.wait_for(lambda r: any(x["body"]["type"] == "request.completed" for x in r))
        # A refused submit (unknown category) carrying the same data.
        # (through --stdin, so that the broker itself refuses it, not the CLI's own check)
        line = json.dumps({"channel": "building_leader", "category": "nope", "building": "市政小区 3栋",
                           "unit": UNIT, "contact": f"{CONTACT} {PHONE}", "text": TEXT}, ensure_ascii=False)
        code, out, err = s.cli("submit", "--stdin", stdin=line + "\n")
        assert code == 2 and "unknown_category" in out, (code, out, err)
        assert offer  # the offer was seen
        broker.stop()
        notifier.stop()
        w.stop()
        for p in (broker, notifier):
            assert p.err_lines, f"{p.name} logged nothing"
            for line in p.err_lines:
                obj = json.loads(line)  # every line is one JSON object
                assert set(obj) == {"ts", "level", "prog", "msg", "src"}, obj
                assert obj["level"] in ("error", "warn", "info", "debug"), obj
                assert obj["prog"] in ("bianmin-broker", "bianmin-notifier"), obj
        assert any("listening" in json.loads(l)["msg"] for l in broker.err_lines)
        for p in s.procs:
            for line in p.err_lines:
                leaked = [x for x in SECRETS if x in line]
                assert not leaked, f"{p.name} logged personal data {leaked}: {line}"


if __name__ == "__main__":
    main([test_json_logs_without_personal_data])
