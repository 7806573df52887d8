#!/bin/sh
# The office's view of a month, in about two minutes: starts bianmin-broker on
# a fresh database in var/demo-<timestamp>/ (ipc:// sockets, nothing on the
# network), replays the NYC 311 sample through it with bianmin-demo (simulated
# volunteers and ratings), stops the broker, puts the database's times on the
# trace's clock (simulated times: bianmin-demo --retime, see demo/retime.h),
# then prints `bianmin stats` for the trace's busiest month and writes the
# HTML report. Everything it starts is stopped on exit.
# Called by `make demo` (which builds first); BUILD is the build directory.
# Extra bianmin-demo flags can be passed in DEMO_FLAGS, e.g.
#   make demo DEMO_FLAGS="--limit 500"      (or: scripts/demo.sh build --limit 500)
set -eu
BUILD=${1:-build}
[ $# -gt 0 ] && shift
BIN="$BUILD/bin"
# The trace lives in shared/ beside the checkout (../shared/data).
REPO=$(cd "$(dirname "$0")/.." && pwd)
DATA=${BM_DEMO_DATA:-$REPO/../shared/data/nyc311-sample.csv}

for p in bianmin-broker bianmin-demo bianmin; do
    if [ ! -x "$BIN/$p" ]; then
        echo "demo: $BIN/$p is missing; run 'make demo' (it builds first)" >&2
        exit 1
    fi
done
if [ ! -r "$DATA" ]; then
    echo "demo: cannot read the trace $DATA (set BM_DEMO_DATA)" >&2
    exit 1
fi

mkdir -p var
DIR="$(pwd)/var/demo-$(date +%Y%m%d-%H%M%S)"
mkdir "$DIR"
# ipc:// paths are limited to ~107 bytes; a deep checkout gets short ones in /tmp.
SOCKDIR="$DIR"
if [ ${#DIR} -gt 80 ]; then
    SOCKDIR=$(mktemp -d /tmp/bianmin-demo.XXXXXX)
fi
CLIENT="ipc://$SOCKDIR/client.sock"
WORKER="ipc://$SOCKDIR/worker.sock"
DB="$DIR/bianmin.db"
CONFIG="$DIR/bianmin.json"
SECRET=$("$BIN/bianmin-broker" --gen-secret)
cat > "$CONFIG" <<JSON
{
  "client_endpoint": "$CLIENT",
  "worker_endpoint": "$WORKER",
  "database": "$DB",
  "callback_secret": "$SECRET",
  "retry_schedule_s": [0, 1, 2, 5],
  "auth": "none",
  "time_zone": "Asia/Shanghai",
  "log_level": "info"
}
JSON
chmod 600 "$CONFIG"

BROKER=""
stop() {
    if [ -n "$BROKER" ]; then
        kill "$BROKER" 2>/dev/null || true
        wait "$BROKER" 2>/dev/null || true
        BROKER=""
    fi
    if [ "$SOCKDIR" != "$DIR" ]; then
        rm -rf "$SOCKDIR"
    fi
}
trap stop EXIT
trap 'exit 130' INT TERM

"$BIN/bianmin-broker" --config "$CONFIG" 2>>"$DIR/broker.log" &
BROKER=$!
i=0
while [ ! -S "$SOCKDIR/worker.sock" ] && [ $i -lt 50 ]; do
    if ! kill -0 "$BROKER" 2>/dev/null; then
        break
    fi
    sleep 0.1
    i=$((i + 1))
done
if ! kill -0 "$BROKER" 2>/dev/null || [ ! -S "$SOCKDIR/worker.sock" ]; then
    echo "demo: bianmin-broker did not start; its log:" >&2
    tail -20 "$DIR/broker.log" >&2
    exit 1
fi
echo "bianmin demo in $DIR (broker pid $BROKER, log broker.log)"
echo

# 0: every request ended; 2: stopped at the time cap (the stats still show what happened).
set +e
"$BIN/bianmin-demo" --data "$DATA" --client "$CLIENT" --worker "$WORKER" \
    --max-seconds 300 --timemap "$DIR/timemap.txt" ${DEMO_FLAGS:-} "$@"
RC=$?
set -e
if [ $RC -eq 1 ]; then
    echo "demo: bianmin-demo failed; the broker's log is $DIR/broker.log" >&2
    exit 1
fi

# Simulated times: the run took minutes; the office should see the trace's
# days and durations. With the broker stopped, every time in the database is
# mapped back onto the trace's clock (read in the office's zone).
stop
MONTH=$(TZ=Asia/Shanghai "$BIN/bianmin-demo" --retime "$DB" --timemap "$DIR/timemap.txt")
echo
echo "Times rewritten onto the trace's clock (simulated times; see demo/retime.h)."
REPORT="$DIR/report.html"
echo
if "$BIN/bianmin" stats --help >/dev/null 2>&1; then
    echo "== bianmin stats --month $MONTH =="
    "$BIN/bianmin" stats --month "$MONTH" --config "$CONFIG" || echo "stats: failed (exit $?)"
    if "$BIN/bianmin" stats --month "$MONTH" --config "$CONFIG" --html "$REPORT"; then
        echo
        echo "The month's report: $REPORT"
    else
        echo "stats: the HTML report could not be written"
    fi
else
    echo "stats: not available in this build"
fi
echo "Database: $DB  (try: $BIN/bianmin stats --month $MONTH --config $CONFIG)"
exit 0
