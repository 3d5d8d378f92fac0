#!/usr/bin/env bash
# bench/connections.sh -- ingest requests/s and latency of two ursa binaries
# side by side (alternating, so that a noisy machine hurts both alike), with
# and without many idle connections held open: the cost of polling every
# connection with poll(2) (what Ursa does) against epoll. Needs wrk.
#
#   bench/connections.sh BIN_A BIN_B [SECONDS per cell, default 4] [IDLE connections, default 500]
#
# One server thread (--threads 1: every connection in one poll set), wrk on
# core 1; the idle connections come from 127.0.0.2 and send a byte every 10 s
# (a request line that never ends, kept below the idle timeout).
set -euo pipefail
a=$1 b=$2 secs=${3:-4} idle=${4:-500}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/connections.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d "${BENCH_DIR:-/tmp}/ursa-conns.XXXXXX")
trap 'rm -rf "$work"' EXIT
node -e '
    const fs = require("fs"); let s = "", x = 42;
    const r = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 100; i++)
      s += JSON.stringify({ts: new Date(1764000000000 + i * 1000).toISOString(), user_id: Math.floor(r() * 1e9),
        event: "event_" + Math.floor(r() * 50), value: r() * 1000, ok: r() < 0.5, country: "C" + Math.floor(r() * 200),
        payload: "p" + Math.floor(r() * 1e12)}) + "\n";
    fs.writeFileSync(process.argv[1], s);' "$work/rows.ndjson"
head -n 1 "$work/rows.ndjson" > "$work/body1.ndjson"
cp "$work/rows.ndjson" "$work/body100.ndjson"
cat > "$work/idle.mjs" <<'JS'
import net from 'node:net';
const [port, n] = process.argv.slice(2).map(Number), socks = [];
for (let i = 0; i < n; i++)
  await new Promise(res => { const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' }, res); s.on('error', () => {}); socks.push(s); });
setInterval(() => { for (const s of socks) s.write('G'); }, 10000);
console.log('ready');
JS
schema='{"columns":[{"name":"ts","type":"timestamp","nullable":false},{"name":"user_id","type":"int64"},
{"name":"event","type":"string"},{"name":"value","type":"float64"},{"name":"ok","type":"bool"},
{"name":"country","type":"string"},{"name":"payload","type":"string"}],"time_column":"ts"}'
echo "| binary | idle connections | rows/request | connections | requests/s | p50 ms | p99 ms | errors |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for round in 1 2; do
  for held in 0 "$idle"; do
    for bin in "$a" "$b"; do
      rm -rf "$work/store"
      "$bin" serve --listen 127.0.0.1:0 --store "$work/store" --node bench --durability none --threads 1 \
        --max-connections 8000 --max-connections-per-client 0 --flush-max-bytes 268435456 > "$work/server.log" 2>&1 &
      pid=$!
      for i in $(seq 1 50); do grep -q 'listening on' "$work/server.log" && break; sleep 0.1; done
      url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/server.log" | head -1)
      curl -sf -o /dev/null -X PUT "$url/v1/datasets/ev" -d "$schema"
      hold=
      if [ "$held" != 0 ]; then
        node "$work/idle.mjs" "${url##*:}" "$held" > "$work/idle.out" & hold=$!
        for i in $(seq 1 100); do grep -q ready "$work/idle.out" && break; sleep 0.1; done
      fi
      for cell in "1 64" "100 64"; do
        set -- $cell
        out=$(URSA_BODY="$work/body$1.ndjson" taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" --timeout 30s \
          -s bench/ingest_post.lua "$url/v1/datasets/ev/records" 2>/dev/null | tail -n 1)
        node -e 'const r = JSON.parse(process.argv[5]);
          console.log(`| ${process.argv[1]} | ${process.argv[2]} | ${process.argv[3]} | ${process.argv[4]} | ${(r.requests / r.seconds).toFixed(0)} | ` +
            `${(r.p50_us / 1000).toFixed(2)} | ${(r.p99_us / 1000).toFixed(2)} | ${r.errors + r.non2xx} |`)' \
          "$bin" "$held" "$1" "$2" "$out"
      done
      [ -n "$hold" ] && kill "$hold"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
