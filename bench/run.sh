#!/bin/sh
# bench/run.sh — build ursa as Release in build/ and run the NDJSON -> Parquet benchmark against Polars and
# DuckDB (bench/convert.mjs; arguments are passed on, e.g. --runs 5 or --rows 1000000).
# Data and outputs go to $BENCH_DIR (default /tmp/ursa-bench), never into the repository.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$repo/build" ursa
exec node "$repo/bench/convert.mjs" --ursa "$repo/build/ursa" "$@"
