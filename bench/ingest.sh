#!/usr/bin/env bash
# bench/ingest.sh -- ingest throughput and acknowledgement latency of a
# Release build of ursa: requests of 1, 100 and 10,000 rows of the event
# table, 1, 8 and 64 concurrent connections, --durability fsync and none.
# The load generator runs on one core, the server on the other (the machine
# has 2). Prints a Markdown table.
#
#   bench/ingest.sh [SECONDS per run, default 10]
#
# Each cell is first run at saturation with wrk (a closed loop: every
# connection sends its next request when the last is answered), which gives
# the throughput the server sustains and the latency at that throughput.
# With RATES set (fractions of that throughput, e.g. RATES="0.25 0.5"), the
# cell is run again at each of those loads held constant by bench/ratepost.c
# (an open loop: request i is due at i / rate, and its latency counts from
# then, so a stall is charged to every request it delayed): the latency at a
# stated load, not only at saturation.
#
# Cells: ROWS="1 100 10000", CONNS="1 8 64", DURS="fsync none" (environment;
# these are the defaults). URSA=path runs another build (default build/ursa,
# built here). Example: the issue 18 goal cells,
#   ROWS=100 CONNS="1 4" DURS=fsync RATES="0.5" bench/ingest.sh 8
set -euo pipefail
secs=${1:-10}
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1 100 10000}
CONNS=${CONNS:-1 8 64}
DURS=${DURS:-fsync none}
RATES=${RATES:-}
command -v wrk >/dev/null || { echo "bench/ingest.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
if [ -z "${URSA:-}" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build ursa >/dev/null
fi
URSA=${URSA:-./build/ursa}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/ursa-ingest.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/ratepost" bench/ratepost.c

# Bodies: the first N rows of a deterministic event table.
node bench/ingest_rows.mjs 10000 "$work/rows.ndjson"
for n in $ROWS; do head -n "$n" "$work/rows.ndjson" > "$work/body$n.ndjson"; done

schema='{"columns":[{"name":"ts","type":"timestamp","nullable":false},{"name":"user_id","type":"int64"},
{"name":"event","type":"string"},{"name":"value","type":"float64"},{"name":"ok","type":"bool"},
{"name":"country","type":"string"},{"name":"payload","type":"string"}],"time_column":"ts"}'

echo "| durability | rows/request | connections | load | requests/s | rows/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for dur in $DURS; do
  rm -rf "$work/store"
  "$URSA" serve --listen 127.0.0.1:0 --store "$work/store" --node bench --durability "$dur" \
    --threads 1 --flush-max-bytes 268435456 > "$work/server.log" 2>&1 &
  pid=$!
  for i in $(seq 1 50); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/server.log" | head -1)
  curl -sf -o /dev/null -X PUT "$url/v1/datasets/ev" -d "$schema"
  for n in $ROWS; do
    bytes=$(stat -c %s "$work/body$n.ndjson")
    for c in $CONNS; do
      out=$(URSA_BODY="$work/body$n.ndjson" taskset -c 1 wrk -t1 -c"$c" -d"${secs}s" --timeout 30s \
        -s bench/ingest_post.lua "$url/v1/datasets/ev/records" 2>/dev/null | tail -n 1)
      row=$(node -e '
        const [n, c, bytes, dur] = process.argv.slice(1, 5).map((v, i) => i < 3 ? Number(v) : v);
        const r = JSON.parse(process.argv[5]);
        const rps = r.requests / r.seconds;
        console.error(`| ${dur} | ${n} | ${c} | saturated (wrk) | ${rps.toFixed(0)} | ${(rps * n).toFixed(0)} | ${(rps * bytes / 1e6).toFixed(1)} | ` +
          `${(r.p50_us / 1000).toFixed(2)} | ${(r.p99_us / 1000).toFixed(2)} | ${(r.p999_us / 1000).toFixed(2)} | ${r.errors + r.non2xx} |`);
        console.log(rps.toFixed(1));
      ' "$n" "$c" "$bytes" "$dur" "$out" 2>&1 >"$work/rps")
      echo "$row"
      for f in $RATES; do
        rate=$(node -e 'console.log((Number(process.argv[1]) * Number(process.argv[2])).toFixed(1))' "$(cat "$work/rps")" "$f")
        out=$(taskset -c 1 "$work/ratepost" --url "$url/v1/datasets/ev/records" --body "$work/body$n.ndjson" \
          --rate "$rate" --connections "$c" --seconds "$secs" --warmup 1)
        node -e '
          const [n, c, bytes, dur, f] = process.argv.slice(1, 6).map((v, i) => i < 3 ? Number(v) : v);
          const r = JSON.parse(process.argv[6]);
          console.log(`| ${dur} | ${n} | ${c} | ${f} of it: ${r.rate.toFixed(0)}/s | ${r.achieved.toFixed(0)} | ${(r.achieved * n).toFixed(0)} | ` +
            `${(r.achieved * bytes / 1e6).toFixed(1)} | ${r.p50_ms.toFixed(2)} | ${r.p99_ms.toFixed(2)} | ${r.p999_ms.toFixed(2)} | ${r.errors} |`);
        ' "$n" "$c" "$bytes" "$dur" "$f" "$out"
      done
    done
  done
  kill "$pid"; wait "$pid" || true
done
