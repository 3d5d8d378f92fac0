#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [TARGET...] -- builds the libFuzzer drivers (every
# fuzz/fuzz_<target>.c) with clang, ASan and UBSan, and runs each in turn for
# SECONDS (default 60), at the lowest CPU priority (nice 19), seeded from
# fuzz/corpus/<target>/ (and fuzz/<target>.dict when there is one). New
# inputs go to build-fuzz/corpus/<target>/ (not committed); crashes land in
# fuzz/crashes/ and become regression tests. The whole libFuzzer output of a
# target is kept in build-fuzz/<target>.log; the summary printed here is
# the executions, the coverage (cov: edges, ft: features) and the peak RSS.
# Exits non-zero when any target found a crash, a leak or a timeout.
set -euo pipefail
secs=${1:-60}
shift || true
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DURSA_SANITIZE=ON -DURSA_FUZZ=ON >/dev/null
nice -n 19 ninja -C build-fuzz $(printf 'fuzz_%s ' "${targets[@]}")
mkdir -p fuzz/crashes
failed=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "fuzz/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz_$t: ${secs}s (log: build-fuzz/$t.log)"
  rc=0
  nice -n 19 "./build-fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="fuzz/crashes/$t-" "build-fuzz/corpus/$t" "fuzz/corpus/$t" \
    >"build-fuzz/$t.log" 2>&1 || rc=$?
  grep -E "^(INFO: Loaded|#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" \
    "build-fuzz/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz_$t: FAILED (exit $rc), see build-fuzz/$t.log and fuzz/crashes/"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
