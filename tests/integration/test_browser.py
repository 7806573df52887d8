"""A real browser (headless Debian chromium driven by playwright-core,
tests/browser/flow.mjs) against the real broker, notifier and gateway: a
leader logs in on a 390x844 phone and submits with a photo; the office sees
it in the queue without reloading by hand, escalates and resolves it; the
requester's webhook arrives. Also a failed login, a form without its CSRF
token, a script in a resident's text shown as text, an oversize upload.
Screenshots are kept in BUILD/browser-artifacts. Exit 77 (skipped) if
chromium or playwright-core (`npm ci --prefix tests/browser`) is missing."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402
from test_open311 import PNG, clean_exit  # noqa: E402

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "..", "browser")


def test_leader_and_office_in_chromium(bindir):
    out = os.path.join(bindir, "..", "browser-artifacts")
    shutil.rmtree(out, ignore_errors=True)
    with System(bindir) as s:
        b = s.broker()
        rec = s.receive()
        s.notifier()
        g = s.gateway({}, {"channel_callbacks": {"building_leader": rec.url("/leader")}})
        s.user("wang", "office", "office-pass-123", "王主任")
        s.user("ld3", "channel:building_leader", "leader-pass-456", "3栋楼栋长")
        photo = os.path.join(s.dir, "kitchen.png")
        with open(photo, "wb") as f:
            f.write(PNG)
        env = dict(os.environ, BM_LEADER="ld3:leader-pass-456", BM_OFFICE="wang:office-pass-123",
                   BM_PHOTO=photo)
        r = subprocess.run(["node", os.path.join(BROWSER_DIR, "flow.mjs"), s.gateway_url, out],
                           capture_output=True, timeout=240, env=env)
        assert r.returncode == 0, (r.stdout.decode()[-2000:], r.stderr.decode()[-4000:])
        found = json.loads(r.stdout.decode().strip().splitlines()[-1])
        assert "登录名或密码不对" in found["wrongLogin"], found
        assert found["formFitsPhone"] and found["queueFitsPhone"], found
        assert found["scriptShownAsText"] and found["officeSeesScriptAsText"], found
        assert "pwned" not in found["leaderTitle"] and "pwned" not in found["officeTitle"], found
        assert "照片太大" in found["oversize"] or "太大" in found["oversize"], found
        assert found["queueHadTicketAtFirst"] == 1 and found["queueRefreshed"], found
        assert found["finalStatus"] == "已解决", found
        assert found["csrfMissingStatus"] == 403, found
        # no CSP violation or script error (the refusals above are answered 401/403/413 on purpose)
        errors = [e for e in found["consoleErrors"] if not e.startswith("Failed to load resource")]
        assert not errors, found
        t = found["ticket"]
        assert s.sql("SELECT status, department FROM requests WHERE id = ?", t)[0] == ("resolved", "water_company")
        assert s.sql("SELECT count(*) FROM attachments WHERE request_id = ?", t)[0][0] == 1
        assert s.sql("SELECT count(*) FROM requests")[0][0] == 2  # the oversize one wrote nothing
        got = rec.wait_for(lambda g: any(x["body"]["type"] == "request.resolved" and
                                         x["body"]["data"]["ticket"] == t for x in g))
        assert all(x["valid"] and x["path"] == "/leader" for x in got), got
        shots = sorted(os.listdir(out))
        assert "月度统计" in found["reportTitle"], found
        assert len(shots) == 11 and all(os.path.getsize(os.path.join(out, x)) > 1000 for x in shots), shots
        clean_exit(g, b)  # under ASan: no leak, no error in either


if __name__ == "__main__":
    if not os.path.exists("/usr/bin/chromium") or not shutil.which("node") or \
            not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        print("SKIP: needs /usr/bin/chromium, node and `npm ci --prefix tests/browser`")
        sys.exit(SKIP)
    main([test_leader_and_office_in_chromium])
