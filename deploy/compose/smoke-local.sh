#!/bin/bash
# Smoke test of docker-compose.yaml's settings where there is no Docker engine (docs/user-guide.md,
# "Running Ursa" > "With docker compose"). The two nodes run from an ursa binary with the
# environment `docker-compose config` gives them; only what names the containers' world is swapped
# for local things: the S3 endpoint and credentials (the tests' Swift s3api, tests/s3/swift.sh, in
# place of MinIO), the listen and advertise addresses, the WAL directories, the keys file's path and
# nginx's address in URSA_TRUST_PROXY (127.0.0.1 here). nginx runs with deploy/compose/nginx.conf
# (upstream names, paths and the port swapped). The keys file is made with `ursa keys add`, as the
# guide says. Every check below is asserted; the script exits 1 if one fails.
#
# Checks, all through nginx unless said: /healthz open without a key; 401 without a key and with a
# wrong one (WWW-Authenticate), 403 without the scope; a dataset made with the admin key, records
# posted with an ingest key alternating between the nodes; /v1/nodes lists both; a query counts
# the rows in both nodes' buffers (the node forwards the key to the other); each node flushes;
# `ursa compact` as the Kubernetes CronJob runs it merges the two files, the count is unchanged;
# /v1/live: 401 without a key, 101 with the key as the subprotocol "ursa.bearer.<key>" (the answer
# chooses ursa.v1) and with Authorization, and a browser-style WebSocket client gets a result
# through nginx; SIGHUP to both nodes after `ursa keys add` and `keys remove` (the new key works,
# the removed one gets 401); the bound on failed attempts counts clients by X-Forwarded-For from
# nginx (a client past it gets 429 even with a good key or a forged X-Forwarded-For, another client
# is not affected); no key appears in a node's log or nginx's; both nodes exit 0 on SIGTERM.
#
# Needs: docker-compose (Debian's 1.29 is enough: only `config`), nginx, curl, python3-yaml, node
# (>= 20, for the WebSocket client), the Swift packages of tests/s3/swift.sh.
# Usage (from anywhere): deploy/compose/smoke-local.sh
#   URSA_BIN=/path/to/ursa   the binary to run (default build/ursa of the repository)
# Prints the time of each step. About 15 s when the build exists.
set -u
cd "$(dirname "$0")/../.."
URSA=$(realpath "${URSA_BIN:-build/ursa}")
[ -x "$URSA" ] || { echo "smoke-local: no binary at $URSA (build it, or set URSA_BIN)" >&2; exit 1; }
for t in docker-compose nginx curl node python3; do
  command -v $t > /dev/null || { echo "smoke-local: $t is needed" >&2; exit 1; }
done
S=$(mktemp -d /tmp/ursa-compose-smoke.XXXXXX)
export URSA_SWIFT_DIR=$S/swift URSA_SWIFT_BUCKET=ursa
# Three free loopback ports: the two nodes and nginx.
read -r P1 P2 PG < <(python3 -c '
import socket; s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
FAIL_LIMIT=8    # URSA_AUTH_FAIL_LIMIT: above the few 401s the checks before the failure-bound one cause
pids=()
cleanup() {
  [ -f "$S/nginx.pid" ] && kill "$(cat "$S/nginx.pid")" 2> /dev/null
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null; done
  sleep 1; tests/s3/swift.sh stop > /dev/null 2>&1; rm -rf "$S"
}
trap cleanup EXIT

failed=0 passed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...: the command's status decides
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
t_start=$(date +%s.%N) t_step=$t_start
step() {
  local now; now=$(date +%s.%N)
  printf -- '--- [%5.1fs, step %4.1fs] %s\n' "$(echo "$now - $t_start" | bc)" "$(echo "$now - $t_step" | bc)" "$1"
  t_step=$now
}
# req NAME ARGS...: curl through nginx; the status in $S/NAME.code, headers and body in NAME.h/.b
req() {
  local name=$1; shift
  curl -s -o "$S/$name.b" -D "$S/$name.h" -w '%{http_code}' --max-time 10 "$@" > "$S/$name.code"
}
code() { cat "$S/$1.code"; }
is() { [ "$(code "$1")" = "$2" ] || { echo "     $1: status $(code "$1"), wanted $2: $(head -c 300 "$S/$1.b")"; return 1; }; }

tests/s3/swift.sh start > "$S/swift.log" 2>&1 || { cat "$S/swift.log"; exit 1; }
eval "$(tests/s3/swift.sh env)"
step "S3 rig (Swift s3api) started in place of MinIO"

docker-compose -f docker-compose.yaml --env-file .env.example config > "$S/config.yaml" ||
  { echo "smoke-local: docker-compose config failed" >&2; exit 1; }
step "docker-compose config"

# The keys file, as the guide makes it: an admin key, one for the application.
mkdir -p "$S/auth"
ADMIN=$("$URSA" keys add admin --scopes admin --file "$S/auth/keys" 2> /dev/null)
APP=$("$URSA" keys add app --scopes 'ingest:events,query:events' --file "$S/auth/keys" 2> /dev/null)
check "ursa keys add printed two keys (ursa_ and 43 characters)" \
  bash -c "[[ '$ADMIN' =~ ^ursa_[A-Za-z0-9_-]{43}$ && '$APP' =~ ^ursa_[A-Za-z0-9_-]{43}$ ]]"
step "ursa keys add (admin, app)"

for i in 1 2; do
  P=$([ $i = 1 ] && echo "$P1" || echo "$P2")
  python3 - "$S/config.yaml" ursa-$i > "$S/env-$i" << 'PY'
import sys, yaml, shlex
env = yaml.safe_load(open(sys.argv[1]))['services'][sys.argv[2]]['environment']
for k, v in env.items(): print(f"{k}={shlex.quote(str(v))}")
PY
  grep -q '^URSA_AUTH_KEYS=/etc/ursa/auth/keys$' "$S/env-$i" && grep -q '^URSA_TRUST_PROXY=' "$S/env-$i" ||
    bad "ursa-$i: docker-compose config gives no URSA_AUTH_KEYS or URSA_TRUST_PROXY"
  mkdir -p "$S/wal-$i"
  ( set -a; . "$S/env-$i"; set +a
    export URSA_STORE="s3://$URSA_TEST_S3_BUCKET/lake" S3_ENDPOINT_URL=$URSA_TEST_S3_ENDPOINT \
           S3_KEY=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY URSA_LISTEN=127.0.0.1:$P \
           URSA_ADVERTISE=127.0.0.1:$P URSA_WAL_DIR=$S/wal-$i URSA_AUTH_KEYS=$S/auth/keys \
           URSA_TRUST_PROXY=127.0.0.1 URSA_AUTH_FAIL_LIMIT=$FAIL_LIMIT
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    exec "$URSA" serve ) > "$S/ursa-$i.log" 2>&1 &
  pids+=($!)
done
sed -e "s/server ursa-1:8000/server 127.0.0.1:$P1/; s/server ursa-2:8000/server 127.0.0.1:$P2/" \
    -e "s/listen 8000;/listen 127.0.0.1:$PG;/; s#/tmp/#$S/#g; s#access_log /dev/stdout#access_log $S/access.log#" \
    deploy/compose/nginx.conf > "$S/nginx.conf"
nginx -t -q -p "$S/" -c "$S/nginx.conf" -e "$S/nginx-error.log" || exit 1
for _ in $(seq 100); do
  curl -sf "localhost:$P1/healthz" > /dev/null && curl -sf "localhost:$P2/healthz" > /dev/null && break; sleep 0.2
done
nginx -p "$S/" -c "$S/nginx.conf" -e "$S/nginx-error.log" -g 'daemon on;' || exit 1
for _ in $(seq 50); do curl -sf "localhost:$PG/healthz" > /dev/null && break; sleep 0.1; done
step "two nodes (keys file, trust proxy 127.0.0.1, fail limit $FAIL_LIMIT) and nginx started"

G=http://127.0.0.1:$PG
A=(-H "Authorization: Bearer $ADMIN") K=(-H "Authorization: Bearer $APP")
schema='{"columns":[{"name":"ts","type":"timestamp","nullable":false},{"name":"user_id","type":"int64"}],"time_column":"ts"}'
rows=$'{"ts":"2026-12-07T10:00:00Z","user_id":1}\n{"ts":"2026-12-07T10:00:01Z","user_id":2}\n'
count_sql='{"sql":"SELECT count(*) AS n FROM events"}'

req health "$G/healthz"; check "GET /healthz without a key: 200" is health 200
req nokey -X PUT "$G/v1/datasets/events" -d "$schema"
check "PUT a dataset without a key: 401" is nokey 401
check "... with WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$S/nokey.h"
req badkey -X PUT "$G/v1/datasets/events" -H "Authorization: Bearer ursa_${APP:5:20}xxxxxxxxxxxxxxxxxxxxxxx" -d "$schema"
check "PUT with a key that is not valid: 401" is badkey 401
req noscope -X PUT "$G/v1/datasets/events" "${K[@]}" -d "$schema"
check "PUT with the app key (no admin scope): 403" is noscope 403
req put -X PUT "$G/v1/datasets/events" "${A[@]}" -H 'Content-Type: application/json' -d "$schema"
check "PUT the dataset with the admin key: 2xx" bash -c "[[ $(code put) == 2?? ]]"
for n in 1 2 3 4; do
  req post$n -X POST "$G/v1/datasets/events/records" "${K[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "$rows"
  check "POST records #$n with the app key: 200, 2 accepted" bash -c "[ $(code post$n) = 200 ] && grep -q '\"accepted\":2' $S/post$n.b"
done
req admpost -X POST "$G/v1/datasets/events/records" "${A[@]}" -H 'Content-Type: application/x-ndjson' --data-binary "$rows"
check "POST records with the admin key (admin is not ingest): 403" is admpost 403
step "keys through nginx: 401, 403, a dataset, 4 posts"

req nodes "${K[@]}" "$G/v1/nodes"
check "GET /v1/nodes: both nodes" bash -c "[ $(code nodes) = 200 ] && [ \$(grep -o '\"node\":' $S/nodes.b | wc -l) = 2 ]"
req q1 -X POST "$G/v1/query" "${K[@]}" -H 'Content-Type: application/json' -d "$count_sql"
check "count(*) over both nodes' buffers: 8 (the key forwarded to the other node)" \
  bash -c "[ $(code q1) = 200 ] && grep -q '\"rows\":\[\[8\]\]' $S/q1.b"
for p in "$P1" "$P2"; do
  req flush$p -X POST "http://127.0.0.1:$p/v1/datasets/events/flush" "${A[@]}"
  check "flush on the node at :$p with the admin key: 200" is flush$p 200
done
( export URSA_STORE="s3://$URSA_TEST_S3_BUCKET/lake" S3_ENDPOINT_URL=$URSA_TEST_S3_ENDPOINT \
         S3_KEY=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  "$URSA" compact --store "$URSA_STORE" --node compact ) > "$S/compact.out" 2>&1
check "ursa compact --store ... --node compact (the CronJob's command line): 2 files -> 1" \
  grep -q 'events 2026-12-07: 2 files .* -> 1 ' "$S/compact.out"
req q2 -X POST "$G/v1/query" "${K[@]}" -H 'Content-Type: application/json' -d "$count_sql"
check "count(*) after flush and compact: 8" bash -c "[ $(code q2) = 200 ] && grep -q '\"rows\":\[\[8\]\]' $S/q2.b"
step "cluster view, query, flush, ursa compact"

ws=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
req ws0 -N --max-time 1 "${ws[@]}" "$G/v1/live"
check "/v1/live upgrade without a key: 401" is ws0 401
req ws1 -N --max-time 1 "${ws[@]}" -H "Sec-WebSocket-Protocol: ursa.v1, ursa.bearer.$APP" "$G/v1/live"
check "/v1/live upgrade with the key as subprotocol: 101" is ws1 101
check "... answering Sec-WebSocket-Protocol: ursa.v1" grep -qi '^Sec-WebSocket-Protocol: ursa.v1' "$S/ws1.h"
req ws2 -N --max-time 1 "${ws[@]}" "${K[@]}" "$G/v1/live"
check "/v1/live upgrade with Authorization: Bearer: 101" is ws2 101
req ws3 -N --max-time 1 "${ws[@]}" -H "Sec-WebSocket-Protocol: ursa.v1, ursa.bearer.${APP:0:30}" "$G/v1/live"
check "/v1/live upgrade with a subprotocol key that is not valid: 401" is ws3 401
# What a browser runs (the guide's example), through nginx: subscribe and get the count.
cat > "$S/live.mjs" << 'JS'
const [url, key] = process.argv.slice(2);
const ws = new WebSocket(url, ['ursa.v1', 'ursa.bearer.' + key]);
const timer = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', id: 'n', sql: 'SELECT count(*) AS n FROM events' }));
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  console.log(`protocol=${ws.protocol} ${m.type} ${JSON.stringify(m.result?.rows ?? m.error)}`);
  clearTimeout(timer); ws.close(); process.exit(m.type === 'result' && m.result.rows[0][0] === 8 ? 0 : 1);
};
ws.onerror = () => { console.log('error'); process.exit(1); };
JS
node_ws=(node)
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2> /dev/null || node_ws=(node --experimental-websocket)
"${node_ws[@]}" "$S/live.mjs" "ws://127.0.0.1:$PG/v1/live" "$APP" > "$S/live.out" 2>&1
check "a WebSocket client with the key as subprotocol gets the live result through nginx ($(head -1 "$S/live.out"))" \
  grep -q '^protocol=ursa.v1 result \[\[8\]\]' "$S/live.out"
step "/v1/live through nginx"

# Reload: a new key and a removed one, then SIGHUP to both nodes (docker compose kill -s SIGHUP).
NEW=$("$URSA" keys add reader --scopes 'query:*' --file "$S/auth/keys" 2> /dev/null)
"$URSA" keys remove app --file "$S/auth/keys" > /dev/null 2>&1
req pre -X POST "$G/v1/query" -H "Authorization: Bearer $NEW" -d "$count_sql"
check "a key added to the file is refused before the reload: 401" is pre 401
for p in "${pids[@]}"; do kill -HUP "$p"; done
sleep 0.5
for n in 1 2; do   # twice: round robin reaches both nodes
  req new$n -X POST "$G/v1/query" -H "Authorization: Bearer $NEW" -H 'Content-Type: application/json' -d "$count_sql"
  check "after SIGHUP the new key queries (request $n): 200" is new$n 200
  req old$n -X POST "$G/v1/query" "${K[@]}" -H 'Content-Type: application/json' -d "$count_sql"
  check "after SIGHUP the removed key (request $n): 401" is old$n 401
done
check "both nodes logged the reload (SIGHUP: API keys read again: 2 ...)" \
  bash -c "grep -q 'SIGHUP: API keys read again: 2 from' $S/ursa-1.log && grep -q 'SIGHUP: API keys read again: 2 from' $S/ursa-2.log"
step "keys add/remove + SIGHUP"

# The bound on failed attempts, per client as nginx saw it: client X (127.0.0.2) tries keys that
# are not valid until both nodes answer 429; then its good key gets 429 too, also with a forged
# X-Forwarded-For (nginx appends the real address, the node reads the last entry); client Y
# (127.0.0.3) is not affected. Without URSA_TRUST_PROXY every client would be nginx (127.0.0.1).
for n in $(seq $((FAIL_LIMIT * 5))); do
  req x$n --interface 127.0.0.2 "$G/v1/datasets" -H "Authorization: Bearer ursa_wrong$n"
done
last=$(for i in $(seq $((n - 5)) $n); do code x$i; echo; done | sort -u | tr '\n' ' ')
check "client 127.0.0.2 with $n wrong keys: its last six answers (from both nodes) are 429 ($last)" [ "$last" = "429 " ]
check "... with Retry-After" grep -qi '^Retry-After: [0-9]' "$S/x$n.h"
for n in 1 2; do
  req xg$n --interface 127.0.0.2 "$G/v1/datasets" -H "Authorization: Bearer $NEW"
  check "client 127.0.0.2 with the good key (request $n): still 429" is xg$n 429
  req xf$n --interface 127.0.0.2 "$G/v1/datasets" -H "Authorization: Bearer $NEW" -H 'X-Forwarded-For: 127.0.0.9'
  check "client 127.0.0.2 with the good key and a forged X-Forwarded-For (request $n): still 429" is xf$n 429
  req y$n --interface 127.0.0.3 "$G/v1/datasets" -H "Authorization: Bearer $NEW"
  check "client 127.0.0.3 with the good key (request $n): 200" is y$n 200
done
step "failed-attempt bound per client through nginx"

kill "$(cat "$S/nginx.pid")"; rm -f "$S/nginx.pid"
t0=$(date +%s.%N)
for i in 1 2; do
  kill -TERM "${pids[$((i - 1))]}"; wait "${pids[$((i - 1))]}"; rc=$?
  check "ursa-$i exits 0 on SIGTERM" [ $rc = 0 ]
done
pids=()
printf '     both nodes stopped %.1f s after SIGTERM\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
leaked=0
for key in "$ADMIN" "$APP" "$NEW"; do
  grep -qF "$key" "$S"/ursa-*.log "$S/access.log" "$S/nginx-error.log" 2> /dev/null && leaked=1
  grep -qF "${key:5}" "$S"/ursa-*.log "$S/access.log" "$S/nginx-error.log" 2> /dev/null && leaked=1
done
check "no key in the nodes' logs or nginx's" [ $leaked = 0 ]
check "nginx used both nodes" bash -c "grep -q 'upstream=127.0.0.1:$P1' $S/access.log && grep -q 'upstream=127.0.0.1:$P2' $S/access.log"
for i in 1 2; do echo "--- ursa-$i log (tail)"; tail -4 "$S/ursa-$i.log"; done
step "stop"
echo "smoke-local: $passed checks passed, $failed failed"
[ $failed = 0 ]
