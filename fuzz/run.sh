#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] [TARGET...] -- builds the libFuzzer drivers (every
# fuzz/fuzz_<target>.c) with clang, ASan and UBSan, and runs each for SECONDS
# (default 60), seeded from fuzz/corpus/<target>/ (and fuzz/<target>.dict when
# there is one). New inputs go to build-fuzz/corpus/<target>/ (not committed);
# crashes land in fuzz/crashes/ and become regression tests.
set -euo pipefail
secs=${1:-60}
shift || true
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do t=${f#fuzz/fuzz_}; targets+=("${t%.c}"); done
fi
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DURSA_SANITIZE=ON -DURSA_FUZZ=ON >/dev/null
ninja -C build-fuzz $(printf 'fuzz_%s ' "${targets[@]}")
mkdir -p fuzz/crashes
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "fuzz/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "fuzz_$t: ${secs}s"
  "./build-fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="fuzz/crashes/$t-" "build-fuzz/corpus/$t" "fuzz/corpus/$t" 2>&1 |
    grep -E "^(stat::number_of_executed_units|stat::peak_rss|==|SUMMARY)" || true
done
