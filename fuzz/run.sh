#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] -- builds the libFuzzer drivers with clang (ASan +
# UBSan) and runs each for SECONDS (default 60), seeded from
# fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/ (not
# committed); crashes land in fuzz/crashes/ and become regression tests.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DURSA_SANITIZE=ON -DURSA_FUZZ=ON >/dev/null
ninja -C build-fuzz fuzz_ndjson fuzz_timestamp
mkdir -p fuzz/crashes build-fuzz/corpus/ndjson build-fuzz/corpus/timestamp
for t in ndjson timestamp; do
  dict=()
  [ -f fuzz/$t.dict ] && dict=(-dict=fuzz/$t.dict)
  echo "fuzz_$t: ${secs}s"
  ./build-fuzz/fuzz_$t "${dict[@]}" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix=fuzz/crashes/$t- build-fuzz/corpus/$t fuzz/corpus/$t 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss|==|SUMMARY)" || true
done
