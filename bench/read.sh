#!/bin/sh
# bench/read.sh — build bench_read and ursa as Release in build/ and run the Parquet read benchmark against Polars
# and DuckDB (bench/read.mjs; arguments are passed on, e.g. --runs 5, --modes all, --files ursa).
# Data goes to $BENCH_READ_DIR (default /tmp/ursa-bench-read), never into the repository; it is generated there
# when missing (the NDJSON of bench/gen_events.mjs, then Ursa's, Polars' and DuckDB's Parquet copies of it).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$repo/build" ursa bench_read
exec node "$repo/bench/read.mjs" --build "$repo/build" "$@"
