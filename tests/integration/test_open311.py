"""Open311 GeoReport v2 through real HTTP against the real broker and
bianmin-gateway: every endpoint, every error the spec names (400/403/404,
plus 405/413/503), no personal data in any GET, nothing written on a refusal."""
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import System, main  # noqa: E402

KEY = "k-forum-7f3a9c"
PHONE = "13812345678"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")


def http(url, method="GET", data=None, headers=None):
    """Returns (status, headers, body bytes) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(s, path, expect=200):
    code, hdrs, body = http(s.gateway_url + path)
    assert code == expect, (path, code, body[:400])
    return json.loads(body), hdrs, body


def post(s, fields, expect):
    code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST",
                         urllib.parse.urlencode(fields).encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == expect, (fields, code, body[:400])
    return json.loads(body)


def spec_error(obj, code):
    assert isinstance(obj, list) and obj and obj[0]["code"] == code and obj[0]["description"], obj


GOOD = {"api_key": KEY, "service_code": "pipe", "description": "厨房下水道堵了",
        "address_string": "市政小区 3栋", "attribute[unit]": "2-301", "last_name": "罗", "first_name": "女士",
        "phone": PHONE}


def clean_exit(*procs):
    """Stops each process and checks it exited 0 (under ASan: no leak, no error)."""
    for p in procs:
        code = p.stop()
        assert code == 0, (p.name, code, p.err_lines[-20:])


def requests_in_db(s):
    return s.sql("SELECT count(*) FROM requests")[0][0]


def test_services_and_definitions(bindir):
    with System(bindir) as s:
        b = s.broker()
        g = s.gateway({KEY: "forum"})
        services, hdrs, _ = get_json(s, "/open311/v2/services.json")
        assert "application/json" in hdrs["Content-Type"]
        byc = {x["service_code"]: x for x in services}
        assert byc["pipe"]["service_name"] == "管道疏通" and byc["leak"]["group"] == "urgent", services
        assert set(byc) >= {"lock", "pipe", "leak", "repair", "other"}
        d, _, _ = get_json(s, "/open311/v2/services/leak.json")
        assert d["service_code"] == "leak" and [a["code"] for a in d["attributes"]] == ["building", "unit", "photos"]
        spec_error(get_json(s, "/open311/v2/services/nope.json", 404)[0], 404)
        spec_error(get_json(s, "/open311/v2/services.xml", 400)[0], 400)
        spec_error(get_json(s, "/open311/v2/nothing.json", 404)[0], 404)
        code, _, body = http(s.gateway_url + "/open311/v2/services.json", "DELETE")
        assert code == 405, code
        spec_error(json.loads(body), 405)
        clean_exit(g, b)


def test_tls(bindir):
    with System(bindir) as s:
        s.broker()
        cert, key = os.path.join(s.dir, "cert.pem"), os.path.join(s.dir, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        g = s.gateway({KEY: "forum"}, {}, "--tls-cert", cert, "--tls-key", key)
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        url = s.gateway_url.replace("http://", "https://") + "/open311/v2/services.json"
        with urllib.request.urlopen(url, context=ctx, timeout=15) as resp:
            assert resp.status == 200 and json.loads(resp.read())
        try:  # plain HTTP is not served
            code = http(s.gateway_url + "/open311/v2/services.json")[0]
        except (ConnectionError, urllib.error.URLError):
            code = None
        assert code != 200, code
        clean_exit(g)


def test_post_errors_write_nothing(bindir):
    with System(bindir) as s:
        s.broker()
        s.gateway({KEY: "forum"})
        spec_error(post(s, {k: v for k, v in GOOD.items() if k != "api_key"}, 403), 403)
        spec_error(post(s, dict(GOOD, api_key="wrong"), 403), 403)
        spec_error(post(s, {k: v for k, v in GOOD.items() if k != "service_code"}, 400), 400)
        spec_error(post(s, dict(GOOD, service_code="nope"), 400), 400)
        spec_error(post(s, {k: v for k, v in GOOD.items() if k != "address_string"}, 400), 400)
        spec_error(post(s, dict(GOOD, description=""), 400), 400)
        nocontact = {k: v for k, v in GOOD.items() if k not in ("last_name", "first_name", "phone")}
        spec_error(post(s, nocontact, 400), 400)
        # the broker's own checks come back as 400 with its code
        e = post(s, dict(GOOD, description="x" * 5000), 400)
        assert e[0]["bianmin_code"] == "too_large", e
        e = post(s, dict(GOOD, callback="ftp://nowhere"), 400)
        assert e[0]["bianmin_field"] == "callback", e
        # a body that is not form encoding
        code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST", b"a=%zz",
                             {"Content-Type": "application/x-www-form-urlencoded"})
        assert code == 400, (code, body)
        # an oversize body is refused before it is parsed
        code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST", b"a" * (13 * 1024 * 1024),
                             {"Content-Type": "application/x-www-form-urlencoded"})
        assert code == 413, code
        spec_error(json.loads(body), 413)
        assert requests_in_db(s) == 0


def test_post_get_and_search(bindir):
    with System(bindir) as s:
        b = s.broker()
        g = s.gateway({KEY: "forum"})
        made = post(s, dict(GOOD, ref="app-1"), 201)
        rid = made[0]["service_request_id"]
        assert rid == "1" and made[0]["service_notice"], made
        again = post(s, dict(GOOD, ref="app-1"), 201)
        assert again[0]["service_request_id"] == rid and again[0]["bianmin_duplicate"] is True
        row = s.sql("SELECT channel, contact, unit, building FROM requests WHERE id = 1")[0]
        assert row == ("forum", f"罗女士 {PHONE}", "2-301", "市政小区 3栋"), row
        # multipart with a photo (extension: media file fields)
        boundary = "b" + uuid.uuid4().hex
        parts = []
        for k, v in dict(GOOD, service_code="leak", description="楼上漏水").items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="p.png"\r\n'
                     f'Content-Type: image/png\r\n\r\n'.encode() + PNG + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST", b"".join(parts),
                             {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert code == 201, (code, body)
        rid2 = json.loads(body)[0]["service_request_id"]
        assert s.sql("SELECT count(*) FROM attachments WHERE request_id = ?", int(rid2))[0][0] == 1
        # one request
        one, _, raw = get_json(s, f"/open311/v2/requests/{rid}.json")
        r = one[0]
        assert r["service_request_id"] == rid and r["status"] == "open" and r["service_code"] == "pipe"
        assert r["service_name"] == "管道疏通" and r["address"] == "市政小区 3栋" and r["description"] == "厨房下水道堵了"
        assert r["requested_datetime"] and r["updated_datetime"] and r["expected_datetime"], r
        assert PHONE.encode() not in raw and "罗".encode() not in raw and b"2-301" not in raw, raw
        spec_error(get_json(s, "/open311/v2/requests/999999.json", 404)[0], 404)
        spec_error(get_json(s, "/open311/v2/requests/abc.json", 404)[0], 404)
        # escalation: agency_responsible and status_notes; cancel: closed
        code, out, err = s.cli("escalate", rid2, "--department", "water_company", "--reason", "主管道破裂")
        assert code == 0, (out, err)
        r2 = get_json(s, f"/open311/v2/requests/{rid2}.json")[0][0]
        assert r2["status"] == "open" and r2["bianmin_status"] == "escalated", r2
        assert r2["agency_responsible"] == "water_company" and r2["status_notes"] == "主管道破裂", r2
        code, out, err = s.cli("cancel", rid, "--channel", "office", "--reason", "居民自己修好了")
        assert code == 0, (out, err)
        # search: ids, status, service_code, dates, paging
        found, _, raw = get_json(s, f"/open311/v2/requests.json?service_request_id={rid},{rid2},77")
        assert sorted(x["service_request_id"] for x in found) == sorted([rid, rid2]), found
        assert PHONE.encode() not in raw
        closed = get_json(s, "/open311/v2/requests.json?status=closed")[0]
        assert [x["service_request_id"] for x in closed] == [rid], closed
        opened = get_json(s, "/open311/v2/requests.json?status=open")[0]
        assert [x["service_request_id"] for x in opened] == [rid2], opened
        leaks = get_json(s, "/open311/v2/requests.json?service_code=leak")[0]
        assert [x["service_request_id"] for x in leaks] == [rid2]
        page2, hdrs, _ = get_json(s, "/open311/v2/requests.json?page_size=1&page=2")
        assert hdrs["X-Total-Count"] == "2" and [x["service_request_id"] for x in page2] == [rid], page2
        assert get_json(s, "/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z")[0] == []
        assert len(get_json(s, "/open311/v2/requests.json?end_date=2099-01-01T00:00:00Z")[0]) == 2
        spec_error(get_json(s, "/open311/v2/requests.json?start_date=yesterday", 400)[0], 400)
        spec_error(get_json(s, "/open311/v2/requests.json?status=maybe", 400)[0], 400)
        spec_error(get_json(s, "/open311/v2/requests.json?page_size=0", 400)[0], 400)
        spec_error(get_json(s, "/open311/v2/requests.json?service_code=nope", 400)[0], 400)
        spec_error(get_json(s, "/open311/v2/requests.json?service_request_id=1,x", 400)[0], 400)
        clean_exit(g, b)


def test_broker_gone_is_503(bindir):
    with System(bindir) as s:
        b = s.broker()
        s.gateway({KEY: "forum"}, {"broker_timeout_ms": 500})
        get_json(s, "/open311/v2/requests.json")
        b.stop()
        obj, hdrs, _ = get_json(s, "/open311/v2/requests/1.json", 503)
        spec_error(obj, 503)
        assert hdrs["Retry-After"]
        code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST",
                             urllib.parse.urlencode(GOOD).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})
        assert code == 503, (code, body)


def test_key_rate_limit(bindir):
    with System(bindir) as s:
        s.broker()
        s.gateway({KEY: "forum"}, {"key_rate": 1, "key_burst": 2})
        codes = []
        for i in range(4):
            code, _, body = http(s.gateway_url + "/open311/v2/requests.json", "POST",
                                 urllib.parse.urlencode(dict(GOOD, ref=f"r{i}")).encode(),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
            codes.append(code)
        assert codes[:2] == [201, 201] and 429 in codes[2:], codes
        assert requests_in_db(s) == codes.count(201)


if __name__ == "__main__":
    main([test_services_and_definitions, test_tls, test_post_errors_write_nothing, test_post_get_and_search,
          test_broker_gone_is_503, test_key_rate_limit])
