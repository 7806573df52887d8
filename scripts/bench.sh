#!/bin/sh
# Runs bianmin-bench (bench/, docs/benchmarks.md) from a built tree:
#   scripts/bench.sh [BUILD_DIR] [bianmin-bench flags...] [SECTION]
# BUILD_DIR defaults to build; SECTION to all. Installs the peers (redis-server,
# beanstalkd, postgresql-15, rabbitmq-server) from Debian packages if they are
# missing; only this script does (CI never needs the servers). Every process
# the bench starts is stopped when it ends, also on Ctrl-C.
set -eu

BUILD="${1:-build}"
[ $# -gt 0 ] && shift
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$HERE/$BUILD/bin"
[ -d "$BUILD" ] && BIN="$(cd "$BUILD" && pwd)/bin"

if [ ! -x "$BIN/bianmin-bench" ]; then
    echo "bench: $BIN/bianmin-bench is missing; build first (make build)" >&2
    exit 1
fi

missing=""
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing="$missing redis-server"
command -v beanstalkd >/dev/null 2>&1 || [ -x /usr/bin/beanstalkd ] || missing="$missing beanstalkd"
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing="$missing postgresql-15"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$missing rabbitmq-server"
[ -x /usr/bin/valgrind ] || missing="$missing valgrind"
if [ -n "$missing" ]; then
    echo "bench: installing$missing (the peers it compares against)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "bench: need root (or sudo) to install:$missing; the peers section will skip them" >&2
            missing=""
        fi
    fi
    if [ -n "$missing" ]; then
        export DEBIAN_FRONTEND=noninteractive
        # The packages' own services are not wanted: the bench starts its own
        # instances on free ports in temp dirs.
        # shellcheck disable=SC2086
        if $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
            { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; }; then
            # Debian starts and enables a package's system service on install
            # (postgresql@15-main on 5432, rabbitmq on 5672, ...): stop and
            # disable the ones just installed.
            if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
                units=""
                for p in $missing; do
                    case "$p" in
                        postgresql-15) units="$units postgresql" ;;
                        *) units="$units $p" ;;
                    esac
                done
                # shellcheck disable=SC2086
                $SUDO systemctl disable --now $units >/dev/null 2>&1 || true
            fi
        else
            echo "bench: could not install$missing; the peers section will skip them" >&2
        fi
    fi
fi

DATA="$HERE/../shared/data/nyc311-sample.csv"
if [ $# -eq 0 ]; then
    set -- all
fi

pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # The bench kills its own children on SIGTERM (and they die with it).
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

"$BIN/bianmin-bench" --bin "$BIN" --data "$DATA" "$@" &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=""
exit "$rc"
