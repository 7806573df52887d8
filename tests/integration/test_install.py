"""`make install` and the systemd units.

  install: stages `cmake --install` under a temp DESTDIR and checks what an
           office's IT person gets: the programs (each answers --version), the
           example config (not world-readable), the units, the sysusers entry,
           the docs.
  units:   runs `systemd-analyze verify` on the installed units (their paths
           pointed at the staged programs); any complaint fails the test. A
           broken copy must be refused, so the check cannot pass vacuously.
           Skipped (exit 77) only when systemd-analyze is not installed.
Python standard library only."""
import argparse
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

PROGRAMS = ["bianmin", "bianmin-broker", "bianmin-worker", "bianmin-notifier"]
UNITS = ["bianmin-broker.service", "bianmin-notifier.service", "bianmin-backup.service",
         "bianmin-backup.timer"]


def cache_value(build, key):
    with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    raise AssertionError(f"{key} not in CMakeCache.txt")


def stage(build, dest):
    r = subprocess.run(["cmake", "--install", build], env=dict(os.environ, DESTDIR=dest),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(build, "install-dirs.txt"), encoding="utf-8") as f:
        dirs = dict(line.strip().split("=", 1) for line in f if "=" in line)
    prefix, unitdir = dirs["prefix"], dirs["unitdir"]
    assert prefix == cache_value(build, "CMAKE_INSTALL_PREFIX"), dirs
    return prefix, dest + prefix, dest + unitdir


def check_install(build, version):
    dest = tempfile.mkdtemp(prefix="bm-install-")
    try:
        prefix, root, unitdir = stage(build, dest)
        for p in PROGRAMS:
            path = os.path.join(root, "bin", p)
            assert os.access(path, os.X_OK), f"{path} missing or not executable"
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and re.match(rf"^{p} {re.escape(version)} \(.*schema \d+\)$",
                                                    out.stdout.strip()), (p, out.stdout, out.stderr)
        etc = "/etc" if prefix == "/usr" else prefix + "/etc"
        example = os.path.join(dest + etc, "bianmin", "bianmin.example.json")
        mode = stat.S_IMODE(os.stat(example).st_mode)
        assert mode & 0o007 == 0, f"example config is world-readable: {oct(mode)}"
        for u in UNITS:
            text = open(os.path.join(unitdir, u), encoding="utf-8").read()
            assert "@" not in re.sub(r"%\w|@system-service|@privileged", "", text), f"{u}: unfilled @VAR@"
            if u.endswith(".service"):
                assert f"ExecStart={prefix}/bin/" in text, f"{u}: ExecStart not under {prefix}/bin"
        broker = open(os.path.join(unitdir, "bianmin-broker.service"), encoding="utf-8").read()
        for line in ["Type=notify", "User=bianmin", "StateDirectory=bianmin", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure", "UMask=0077"]:
            assert re.search(rf"^{re.escape(line)}$", broker, re.M), f"broker unit lacks {line}"
        sysusers = os.path.join(dest + prefix, "lib", "sysusers.d", "bianmin.conf")
        assert unitdir == dest + prefix + "/lib/systemd/system", unitdir
        assert open(sysusers, encoding="utf-8").read().count("u bianmin") == 1
        docs = os.path.join(dest + prefix, "share", "doc", "bianmin")
        for d in ["README.md", "operations.md", "protocol.md", "metrics-alerts.yml"]:
            assert os.path.getsize(os.path.join(docs, d)) > 0, f"doc {d} missing or empty"
        print("PASS install: programs, --version, config example, units, sysusers, docs")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def verify(unit_paths, cwd):
    r = subprocess.run(["systemd-analyze", "verify", *unit_paths], capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    return r.returncode, (r.stdout + r.stderr).strip()


def check_units(build):
    if not shutil.which("systemd-analyze"):
        print("SKIP units: systemd-analyze is not installed (Debian package systemd); "
              "the units were not verified")
        sys.exit(77)
    dest = tempfile.mkdtemp(prefix="bm-units-")
    try:
        prefix, root, unitdir = stage(build, dest)
        work = os.path.join(dest, "verify")
        os.mkdir(work)
        paths = []
        for u in UNITS:
            text = open(os.path.join(unitdir, u), encoding="utf-8").read()
            # The staged programs stand in for the installed ones.
            text = text.replace(f"{prefix}/bin/", f"{root}/bin/")
            path = os.path.join(work, u)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            paths.append(path)
        # The coming gateway's unit, with a stand-in program until bianmin-gateway exists.
        gw_bin = os.path.join(dest, "gw-bin")
        os.mkdir(gw_bin)
        shutil.copy(os.path.join(root, "bin", "bianmin"), os.path.join(gw_bin, "bianmin-gateway"))
        src = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "bianmin-gateway.service.in")
        text = open(src, encoding="utf-8").read()
        for var, val in [("BINDIR", gw_bin), ("SYSCONFDIR", "/etc"), ("DOCDIR", "/usr/share/doc/bianmin")]:
            text = text.replace(f"@{var}@", val)
        gw = os.path.join(work, "bianmin-gateway.service")
        with open(gw, "w", encoding="utf-8") as f:
            f.write(text)
        paths.append(gw)
        rc, out = verify(paths, work)
        assert rc == 0 and not out, f"systemd-analyze verify: rc {rc}\n{out}"
        # The same check must refuse a broken unit.
        bad_dir = os.path.join(dest, "bad")
        os.mkdir(bad_dir)
        bad = os.path.join(bad_dir, "bianmin-broker.service")
        text = open(paths[0], encoding="utf-8").read()
        with open(bad, "w", encoding="utf-8") as f:
            f.write(text.replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectEverything=yes")
                        .replace(f"{root}/bin/bianmin-broker", f"{root}/bin/no-such-program"))
        rc, out = verify([bad], bad_dir)
        assert rc != 0 and "no-such-program" in out and "ProtectEverything" in out, (rc, out)
        print(f"PASS units: systemd-analyze verify accepts {', '.join(UNITS)} and the gateway's; "
              "refuses a broken copy")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["install", "units"])
    ap.add_argument("--build", required=True)
    ap.add_argument("--version", required=True)
    a = ap.parse_args()
    if a.what == "install":
        check_install(a.build, a.version)
    else:
        check_units(a.build)


if __name__ == "__main__":
    main()
