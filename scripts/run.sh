#!/bin/sh
# Starts bianmin-broker, bianmin-notifier and bianmin-gateway on loopback with
# the embedded SQLite database var/bianmin.db, with keys: the broker makes its
# own key pair and the office key (var/keys/) on its first start; this script
# makes the notifier's key, a demo volunteer's key and the gateway's set-up.
# Prints how to use them, and stops everything on Ctrl-C. Called by
# `make run`; BUILD is the build directory.
set -eu
BUILD=${1:-build}
BIN="$BUILD/bin"
umask 077
mkdir -p var
chmod 700 var
CONFIG=var/bianmin.json
if [ ! -f "$CONFIG" ]; then
    SECRET=$("$BIN/bianmin-broker" --gen-secret)
    cat > "$CONFIG" <<JSON
{
  "client_endpoint": "tcp://127.0.0.1:5570",
  "worker_endpoint": "tcp://127.0.0.1:5571",
  "database": "var/bianmin.db",
  "callback_secret": "$SECRET",
  "subscriptions": [
    {"name": "office", "url": "http://127.0.0.1:8080/office", "secret": "$SECRET",
     "events": ["request.overdue", "request.needs_escalation", "request.escalated"]}
  ]
}
JSON
    chmod 600 "$CONFIG"
    echo "已写入 $CONFIG / wrote $CONFIG with a new webhook signing secret (every setting: config/bianmin.example.json)."
fi

# The endpoints are the config's, whatever they were changed to.
setting() {
    sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$CONFIG" | head -n 1
}
CLIENT=$(setting client_endpoint)
WORKER=$(setting worker_endpoint)
DB=$(setting database)
: "${CLIENT:=tcp://127.0.0.1:5570}" "${WORKER:=tcp://127.0.0.1:5571}" "${DB:=var/bianmin.db}"

"$BIN/bianmin-broker" --config "$CONFIG" 2>>var/broker.log &
BROKER=$!
NOTIFIER=""
GATEWAY=""
stop() {
    kill $GATEWAY $NOTIFIER "$BROKER" 2>/dev/null || true
    wait $GATEWAY $NOTIFIER "$BROKER" 2>/dev/null || true
    echo "bianmin 已停止 / stopped; everything acknowledged is in $DB"
}
trap 'stop; exit 0' INT TERM

# Ready when it says it listens (after its authentication self-test).
i=0
until grep -q "listening: clients" var/broker.log 2>/dev/null && [ -f var/keys/office.key ]; do
    i=$((i + 1))
    if ! kill -0 "$BROKER" 2>/dev/null || [ $i -gt 200 ]; then
        if grep -q "listening: clients" var/broker.log 2>/dev/null; then
            # Listening, but no office key: the database was made before and
            # its keys folder is gone (the broker makes the office key only for
            # a database that has none registered).
            echo "服务站已启动，但办公室钥匙 var/keys/office.key 不见了：数据库里登记的是原来的钥匙。" >&2
            echo "请把原来的 var/keys/ 放回（docs/operations.md），或把 var/ 移走重新开始。" >&2
            echo "The station started, but the office key var/keys/office.key is missing: the" >&2
            echo "database has the earlier keys registered. Put the earlier var/keys/ back" >&2
            echo "(docs/operations.md), or move var/ aside to start afresh." >&2
        else
            echo "bianmin-broker 没有启动 / did not start; its log:" >&2
            tail -20 var/broker.log >&2
        fi
        stop
        exit 1
    fi
    sleep 0.1
done

OFFICE="$BIN/bianmin --key var/keys/office.key --broker $CLIENT"
if [ ! -f var/keys/notifier.key ]; then
    $OFFICE keys new --role notifier --name 通知器 --out var/keys/notifier.key >/dev/null
fi
if [ ! -f var/keys/v01.key ]; then
    $OFFICE keys new --role volunteer:v01 --name 袁建成 --skills pipe,repair \
        --out var/keys/v01.key >/dev/null
fi

# The SSRF guard refuses loopback destinations unless allowed: allow them here so
# the walk-through's local receiver (scripts/webhook-receiver) gets its notices.
"$BIN/bianmin-notifier" --key var/keys/notifier.key --broker "$CLIENT" \
    --allow-host 127.0.0.1 --allow-host localhost 2>>var/notifier.log &
NOTIFIER=$!

GATEWAY_NOTE="(bianmin-gateway 未构建 / not built)"
if [ -x "$BIN/bianmin-gateway" ]; then
    BIANMIN_BROKER="$CLIENT" scripts/gateway-first-run "$BUILD" 127.0.0.1:8380
    "$BIN/bianmin-gateway" --config var/gateway.json 2>>var/gateway.log &
    GATEWAY=$!
    GATEWAY_NOTE="office console http://127.0.0.1:8380/office/  leader form http://127.0.0.1:8380/submit"
fi

cat <<TXT

bianmin 正在运行 / is running (broker $BROKER, notifier $NOTIFIER${GATEWAY:+, gateway $GATEWAY}).
  数据库 database  $DB        日志 logs  var/broker.log, var/notifier.log, var/gateway.log
  客户端 clients   $CLIENT    志愿者 volunteers  $WORKER
  钥匙 keys        var/keys/ (office.key is the office's: keep it safe; owner-only files)
  网页 web         $GATEWAY_NOTE

在另一个终端 / In another terminal (the CLI uses var/keys/office.key by default):
  # (optional) watch the signed notices arrive
  scripts/webhook-receiver &

  # the office records a building leader's request (prints the ticket number)
  $BIN/bianmin submit --channel building_leader --category pipe \\
      --building "市政小区 3栋" --unit 2-301 --contact "罗女士 13800000000" \\
      --text "厨房下水道堵了" --callback http://127.0.0.1:8080/hook

  # volunteer v01 (key made above) sees the offer, types: claim 1  then: done 1 疏通完毕
  $BIN/bianmin-worker --key var/keys/v01.key

  # anyone with a key follows the request; the office watches the queue
  $BIN/bianmin status 1
  $BIN/bianmin list
  $BIN/bianmin volunteers
  $BIN/bianmin rate 1 5 --channel building_leader --comment "师傅很快"
  $BIN/bianmin stats --month $(date +%Y-%m) --html var/report.html

  # keys for other people: a building leader's desk, another volunteer
  $BIN/bianmin keys new --role channel:building_leader --name 3栋楼栋长 --out leader.key
  $BIN/bianmin keys new --role volunteer:v02 --name 张师傅 --skills lock --out v02.key
  $BIN/bianmin keys list

按 Ctrl-C 停止 / Press Ctrl-C to stop.
TXT
wait "$BROKER"
stop
