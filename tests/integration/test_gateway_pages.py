"""The office console and the building leader's form through real HTTP
against the real broker and bianmin-gateway: logins (users made with
`bianmin users`), wrong passwords and backoff, CSRF, the leader's submit with
a photo, the office's escalate and resolve, the requester's webhook, a
script in a resident's text shown as text, oversize uploads, roles kept
apart, and the response headers (CSP, cookies)."""
import http.cookiejar
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402
from test_open311 import PNG, clean_exit  # noqa: E402

OFFICE_PW = "office-pass-123"
LEADER_PW = "leader-pass-456"


class Browser:
    """Cookies, CSRF tokens from the last page, forms (urlencoded or multipart)."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.page = ""
        self.headers = {}

    def open(self, path, data=None, ctype=None):
        headers = {"Content-Type": ctype} if ctype else {}
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=20) as r:
                code, self.headers, body = r.status, r.headers, r.read()
                self.url = r.url
        except urllib.error.HTTPError as e:
            code, self.headers, body = e.code, e.headers, e.read()
            self.url = self.base + path
        self.page = body.decode("utf-8", "replace")
        return code

    def csrf(self):
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', self.page)
        assert m, self.page[:500]
        return m.group(1)

    def post(self, path, fields, csrf=True, files=None):
        fields = dict(fields)
        if csrf:
            fields["csrf"] = self.csrf()
        if files is None:
            return self.open(path, urllib.parse.urlencode(fields).encode(),
                             "application/x-www-form-urlencoded")
        b = "b" + uuid.uuid4().hex
        parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        for name, filename, data in files:
            parts.append(f'--{b}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f'Content-Type: image/png\r\n\r\n'.encode() + data + b"\r\n")
        parts.append(f"--{b}--\r\n".encode())
        return self.open(path, b"".join(parts), f"multipart/form-data; boundary={b}")

    def login(self, user, pw):
        assert self.open("/login") == 200
        return self.post("/login", {"user": user, "password": pw})


def setup(s, receiver=False, extra_cfg=None):
    s.broker_proc = s.broker()
    rec = s.receive() if receiver else None
    cfg = dict(extra_cfg or {})
    if rec:
        cfg["channel_callbacks"] = {"building_leader": rec.url("/leader")}
    s.gateway_proc = s.gateway({}, cfg)
    s.user("wang", "office", OFFICE_PW, "王主任")
    s.user("ld3", "channel:building_leader", LEADER_PW, "3栋楼栋长")
    return rec


def test_login_csrf_and_headers(bindir):
    with System(bindir) as s:
        setup(s)
        b = Browser(s.gateway_url)
        assert b.open("/office/") == 200 and b.url.endswith("/login"), b.url  # redirected to log in
        csp = b.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert b.headers["X-Frame-Options"] == "DENY"
        fresh = Browser(s.gateway_url)
        assert fresh.open("/login") == 200
        cookie = fresh.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
        assert "登录" in b.page and "<script>" not in b.page
        # no CSRF token: refused, not logged in
        assert b.post("/login", {"user": "wang", "password": OFFICE_PW}, csrf=False) == 403
        assert "安全令牌" in b.page
        assert b.open("/office/") == 200 and b.url.endswith("/login")
        # a forged token
        assert b.open("/login") == 200
        assert b.open("/login", urllib.parse.urlencode({"user": "wang", "password": OFFICE_PW,
                                                         "csrf": "0" * 64}).encode(),
                      "application/x-www-form-urlencoded") == 403
        # wrong password and unknown user read the same
        assert b.login("wang", "wrong-password") == 401
        wrong = re.search(r'class="error">([^<]*)<', b.page).group(1)
        assert b.login("nobody", "wrong-password") == 401
        assert re.search(r'class="error">([^<]*)<', b.page).group(1) == wrong, b.page
        # the right one: the session cookie is HttpOnly and SameSite=Strict
        assert b.login("wang", OFFICE_PW) == 200 and b.url.endswith("/office/"), b.url
        assert "王主任" in b.page and "工单队列" in b.page
        # logout needs the token too
        assert b.post("/logout", {}, csrf=False) == 403
        assert b.open("/office/") == 200 and b.post("/logout", {}) == 200 and b.url.endswith("/login")
        assert b.open("/office/") == 200 and b.url.endswith("/login")
        # a leader may not open the console, the office may not use the form
        assert b.login("ld3", LEADER_PW) == 200 and b.url.endswith("/submit"), b.url
        assert b.open("/office/") == 403
        o = Browser(s.gateway_url)
        assert o.login("wang", OFFICE_PW) == 200
        assert o.open("/submit") == 403
        # a tampered session cookie is not accepted
        t = Browser(s.gateway_url)
        t.open("/login")
        for c in o.jar:
            if c.name == "bm_session":
                c.value = c.value[:-1] + ("0" if c.value[-1] != "0" else "1")
                t.jar.set_cookie(c)
        assert t.open("/office/") == 200 and t.url.endswith("/login")


def test_login_backoff_and_user_admin(bindir):
    with System(bindir) as s:
        setup(s)
        b = Browser(s.gateway_url)
        codes = [b.login("wang", f"wrong-{i}") for i in range(8)]
        assert codes[:5] == [401] * 5 and 429 in codes[5:], codes
        assert "秒后再试" in b.page and b.headers["Retry-After"]
        # the broker counts too (another address cannot go on guessing)
        failed = s.sql("SELECT failed FROM users WHERE login = 'wang'")[0][0]
        assert failed >= 6, failed
        code, _, err = s.cli("users", "passwd", "wang", "--password-stdin", stdin="new-pass-789\n")
        assert code == 0, err
        assert s.sql("SELECT failed, locked_until FROM users WHERE login = 'wang'")[0] == (0, 0)
        code, users, _ = s.cli_json("users", "list")
        assert code == 0 and {u["user"] for u in users["users"]} == {"wang", "ld3"}
        assert all("hash" not in u for u in users["users"])
        assert s.sql("SELECT hash FROM users WHERE login = 'wang'")[0][0].startswith("$argon2id$")
        time.sleep(2.5)  # the address's own backoff (2 s after the 6th failure) runs out
        assert b.login("wang", "new-pass-789") == 200 and b.url.endswith("/office/")
        held = Browser(s.gateway_url)
        assert held.login("ld3", LEADER_PW) == 200 and held.url.endswith("/submit")
        code, _, err = s.cli("users", "disable", "ld3")
        assert code == 0, err
        # disabling ends the sessions already open, at once
        assert held.open("/my") == 200 and held.url.endswith("/login"), held.url
        c = Browser(s.gateway_url)
        assert c.login("ld3", LEADER_PW) == 401
        code, _, err = s.cli("users", "add", "x", "--role", "channel:nowhere", "--password-stdin", stdin="abcdefgh12\n")
        assert code == 2 and "role" in err, err
        code, _, err = s.cli("users", "add", "y", "--role", "office", "--password-stdin", stdin="short\n")
        assert code == 2, err


def test_leader_to_office_flow(bindir):
    with System(bindir) as s:
        rec = setup(s, receiver=True)
        s.notifier()
        leader = Browser(s.gateway_url)
        assert leader.login("ld3", LEADER_PW) == 200 and 'capture="environment"' in leader.page
        fields = {"category": "pipe", "building": "市政小区 3栋", "unit": "2-301", "contact": "罗女士 13800000000",
                  "text": "厨房下水道堵了<script>alert(1)</script>"}
        assert leader.post("/submit", fields, files=[("photos", "kitchen.png", PNG)]) == 200
        assert re.search(r"/my/1\?new=1$", leader.url), leader.url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in leader.page and "<script>alert" not in leader.page
        assert "kitchen.png" in leader.page
        src = re.search(r'<img class="photo" src="(/my/photo/1/[0-9a-f]{64})"', leader.page).group(1)
        page = leader.page
        assert leader.open(src) == 200 and leader.headers["Content-Type"] == "image/png"
        leader.page = page
        assert leader.open(src.replace("/photo/1/", "/photo/1/0")) == 404
        assert leader.open(src[:-1] + ("0" if src[-1] != "0" else "1")) == 404  # not this request's photo
        s.user("fm", "channel:forum", "forum-pass-789")
        other = Browser(s.gateway_url)
        assert other.login("fm", "forum-pass-789") == 200
        assert other.open(src) == 403 and other.open("/my/1") in (403, 404)  # another channel's request
        assert s.sql("SELECT count(*) FROM attachments WHERE request_id = 1")[0][0] == 1
        rec.wait_for(lambda got: any(g["body"]["type"] == "request.received" for g in got))
        office = Browser(s.gateway_url)
        assert office.login("wang", OFFICE_PW) == 200
        assert "#1" in office.page and "&lt;script&gt;" in office.page and "<script>alert" not in office.page
        m = re.search(r'data-version="([0-9a-f]+)"', office.page)
        assert m and office.open("/office/version") == 200 and office.page == m.group(1)
        assert office.open("/office/request/1") == 200 and "罗女士" in office.page
        osrc = re.search(r'<img class="photo" src="(/office/photo/1/[0-9a-f]{64})"', office.page).group(1)
        req = urllib.request.Request(s.gateway_url + osrc)
        with office.opener.open(req, timeout=10) as r:
            assert r.read() == PNG and r.headers["Content-Type"] == "image/png"
        assert office.open("/office/request/1") == 200
        # escalate without a reason: a page saying what to fix, nothing changes
        assert office.post("/office/request/1/escalate", {"department": "water_company", "reason": ""}) == 400
        assert s.sql("SELECT status FROM requests WHERE id = 1")[0][0] == "open"
        assert office.open("/office/request/1") == 200
        assert office.post("/office/request/1/escalate", {"department": "water_company", "reason": "主管道"}) == 200
        assert "已上报" in office.page and "water_company" in office.page
        assert office.post("/office/request/1/resolve", {"answer": "自来水公司已修复"}, csrf=False) == 403
        assert office.open("/office/request/1") == 200
        assert office.post("/office/request/1/resolve", {"answer": "自来水公司已修复"}) == 200
        assert s.sql("SELECT status FROM requests WHERE id = 1")[0][0] == "resolved"
        got = rec.wait_for(lambda got: any(g["body"]["type"] == "request.resolved" for g in got))
        assert all(g["valid"] for g in got) and all(g["path"] == "/leader" for g in got)
        assert {"request.received", "request.escalated", "request.resolved"} <= {g["body"]["type"] for g in got}
        # the leader sees it resolved and records the resident's rating
        assert leader.open("/my/1") == 200 and "已解决" in leader.page
        assert leader.post("/my/1/rate", {"score": "5", "comment": "很快"}) == 200 and "已记录评价" in leader.page
        assert s.sql("SELECT rating FROM requests WHERE id = 1")[0][0] == 5
        assert leader.open("/my") == 200 and "#1" in leader.page
        # the office's other pages
        assert office.open("/office/volunteers") == 200 and "志愿者" in office.page
        assert office.open("/office/deliveries") == 200 and "投递失败" in office.page
        assert office.open("/office/request/999") == 404
        assert office.open("/office/report") == 200 and "便民服务月度统计" in office.page
        assert "unsafe-inline" in office.headers["Content-Security-Policy"] and "<script" not in office.page
        assert "script-src" not in office.headers["Content-Security-Policy"]
        assert office.open("/office/report?month=2026-13") == 400
        assert leader.open("/office/report") == 403
        clean_exit(s.gateway_proc, s.broker_proc)


def test_oversize_and_bad_uploads(bindir):
    with System(bindir) as s:
        setup(s, extra_cfg={"max_upload": 64 * 1024, "max_uploads": 2, "max_body": 1024 * 1024})
        leader = Browser(s.gateway_url)
        assert leader.login("ld3", LEADER_PW) == 200
        fields = {"category": "pipe", "building": "3栋", "contact": "罗", "text": "堵了"}
        assert leader.post("/submit", fields, files=[("photos", "big.png", PNG + b"\0" * 70000)]) == 413
        assert "照片太大" in leader.page and "3栋" in leader.page  # the form keeps what was typed
        assert leader.post("/submit", fields, files=[("photos", f"{i}.png", PNG) for i in range(3)]) == 413
        assert "照片太多" in leader.page
        assert leader.post("/submit", fields, files=[("photos", "huge.png", b"\0" * (2 * 1024 * 1024))]) == 413
        assert leader.open("/submit") == 200
        assert leader.post("/submit", fields, files=[("photos", "fake.png", b"not an image")]) == 400
        assert leader.post("/submit", dict(fields, building=" ")) == 400 and "请填写" in leader.page
        assert s.sql("SELECT count(*) FROM requests")[0][0] == 0


if __name__ == "__main__":
    main([test_login_csrf_and_headers, test_login_backoff_and_user_admin, test_leader_to_office_flow,
          test_oversize_and_bad_uploads])
