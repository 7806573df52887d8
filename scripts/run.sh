#!/bin/sh
# Starts bianmin-broker and bianmin-notifier on loopback with the embedded
# SQLite database var/bianmin.db, prints how to use them, and stops both on
# Ctrl-C. Called by `make run`; BUILD is the build directory.
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
mkdir -p var
CONFIG=var/bianmin.json
if [ ! -f "$CONFIG" ]; then
    SECRET=$("$BIN/bianmin-broker" --gen-secret)
    cat > "$CONFIG" <<JSON
{
  "client_endpoint": "tcp://127.0.0.1:5570",
  "worker_endpoint": "tcp://127.0.0.1:5571",
  "database": "var/bianmin.db",
  "callback_secret": "$SECRET"
}
JSON
    chmod 600 "$CONFIG"
    echo "Wrote $CONFIG with a new webhook signing secret (see config/bianmin.example.json for every setting)."
fi

"$BIN/bianmin-broker" --config "$CONFIG" 2>>var/broker.log &
BROKER=$!
sleep 0.3
if ! kill -0 "$BROKER" 2>/dev/null; then
    echo "bianmin-broker did not start; its log:" >&2
    tail -20 var/broker.log >&2
    exit 1
fi
# The SSRF guard refuses loopback destinations unless allowed: allow them here so
# the walk-through's local receiver (scripts/webhook-receiver) gets its notices.
"$BIN/bianmin-notifier" --broker tcp://127.0.0.1:5570 \
    --allow-host 127.0.0.1 --allow-host localhost 2>>var/notifier.log &
NOTIFIER=$!

stop() {
    kill "$NOTIFIER" "$BROKER" 2>/dev/null || true
    wait "$NOTIFIER" "$BROKER" 2>/dev/null || true
    echo "bianmin stopped; everything acknowledged is in var/bianmin.db"
}
trap 'stop; exit 0' INT TERM

cat <<TXT

bianmin is running (broker pid $BROKER, notifier pid $NOTIFIER).
  database   var/bianmin.db         logs  var/broker.log, var/notifier.log
  clients    tcp://127.0.0.1:5570   volunteers  tcp://127.0.0.1:5571
  signing    the callback secret is in $CONFIG ("callback_secret")

In another terminal:
  # (optional) watch the signed notices arrive
  scripts/webhook-receiver &

  # a building leader submits a resident's request (prints the ticket number)
  $BIN/bianmin submit --channel building_leader --category pipe \\
      --building "市政小区 3栋" --unit 2-301 --contact "罗女士 13800000000" \\
      --text "厨房下水道堵了" --callback http://127.0.0.1:8080/hook

  # a volunteer starts a worker, sees the offer, types: claim 1  then: done 1 疏通完毕
  $BIN/bianmin-worker --id v01 --name 袁建成 --skills pipe,repair

  # anyone follows the request; the office watches the queue
  $BIN/bianmin status 1
  $BIN/bianmin list
  $BIN/bianmin volunteers
  $BIN/bianmin rate 1 5 --channel building_leader --comment "师傅很快"
  $BIN/bianmin stats --month $(date +%Y-%m) --html var/report.html

Press Ctrl-C to stop.
TXT
wait "$BROKER"
stop
