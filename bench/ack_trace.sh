#!/usr/bin/env bash
# bench/ack_trace.sh -- one fixed-rate cell of bench/ingest.sh, traced: when
# do acknowledgements stall, and is it the server (service time) or a queue
# behind an earlier request (latency without service)? Starts a Release
# build on a fresh store, posts 100-row requests with bench/ratepost.c (an
# open loop, pinned to core 1) and prints ratepost's JSON line, then one
# field a second: "second:max latency/max service ms/requests over 5 ms".
# The trace (due time, latency, service time per request) stays in
# $OUT/trace.txt and the server's log in $OUT/server.log, to line stalls up
# with flushes; `perf sched record` of the server is the next step.
#
#   bench/ack_trace.sh RATE CONNECTIONS SECONDS [ursa serve options...]
#   e.g. bench/ack_trace.sh 1050 1 20 --flush-max-bytes 67108864
#
# Environment: URSA (default build/ursa), DUR (fsync), OUT (a new temp dir).
# The server runs with --threads 1 --flush-max-bytes 256M unless the options
# given after SECONDS say otherwise.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,17p "$0" >&2; exit 2; }
rate=$1 conns=$2 secs=$3
shift 3
cd "$(dirname "$0")/.."
URSA=${URSA:-./build/ursa}
OUT=${OUT:-$(mktemp -d "${BENCH_DIR:-/tmp}/ursa-ack.XXXXXX")}
mkdir -p "$OUT"
cc -O2 -o "$OUT/ratepost" bench/ratepost.c
node bench/ingest_rows.mjs 100 "$OUT/body.ndjson"
rm -rf "$OUT/store"
"$URSA" serve --listen 127.0.0.1:0 --store "$OUT/store" --node bench --durability "${DUR:-fsync}" \
  --threads 1 --flush-max-bytes 268435456 "$@" > "$OUT/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for i in $(seq 1 50); do grep -q 'listening on' "$OUT/server.log" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/server.log" | head -1)
curl -sf -o /dev/null -X PUT "$url/v1/datasets/ev" -d '{"columns":[{"name":"ts","type":"timestamp","nullable":false},
{"name":"user_id","type":"int64"},{"name":"event","type":"string"},{"name":"value","type":"float64"},
{"name":"ok","type":"bool"},{"name":"country","type":"string"},{"name":"payload","type":"string"}],"time_column":"ts"}'
taskset -c 1 "$OUT/ratepost" --url "$url/v1/datasets/ev/records" --body "$OUT/body.ndjson" \
  --rate "$rate" --connections "$conns" --seconds "$secs" --warmup 1 --trace "$OUT/trace.txt"
kill "$pid"
wait "$pid" || true
awk '{ b = int($1); if ($2 > m[b]) m[b] = $2; if ($3 > s[b]) s[b] = $3; if ($2 > 5) c[b]++ }
     END { for (i = 0; i <= int($1); i++) if (i in m) printf "%d:%.0f/%.0f/%d  ", i, m[i], s[i], c[i] + 0; print "" }' \
  "$OUT/trace.txt"
grep -E 'flushed' "$OUT/server.log" || true
echo "trace and log in $OUT" >&2
