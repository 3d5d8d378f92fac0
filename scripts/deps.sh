#!/usr/bin/env bash
# deps.sh build|test -- installs the Debian packages Ursa needs (and, for
# tests, the npm test tools in tests/). As root it runs apt-get; otherwise it
# prints the exact command to run and fails.
set -euo pipefail
mode=${1:-build}
cd "$(dirname "$0")/.."

build_pkgs=(gcc make cmake ninja-build pkg-config libmicrohttpd-dev libjansson-dev libzstd-dev
            libsnappy-dev zlib1g-dev libbrotli-dev liblz4-dev libxxhash-dev libcurl4-openssl-dev libssl-dev
            libunistring-dev libpg-query-dev libprotobuf-c-dev)
test_pkgs=(curl clang-format
           # the independent Avro reader that checks Iceberg manifests (tests/tools/avro_check.py)
           python3-avro
           # the S3 tests: a real S3 server (Swift + s3api, tests/s3/swift.sh) and an independent client
           swift swift-proxy swift-object swift-container swift-account memcached awscli
           # the gateway in front of several nodes (tests/integration/gateway.mjs, bench/table.mjs)
           nginx
           # the browser the console and /docs are tested in (driven by playwright-core from npm)
           chromium)

pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
# Node.js for the test tools: only when there is none (a newer one may be
# installed from elsewhere, and Debian's npm would conflict with it).
if [ "$mode" = test ] && ! command -v node >/dev/null; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "deps: missing Debian packages; run as root:  sudo $cmd" >&2
    exit 1
  fi
fi

if [ "$mode" = test ]; then
  # The four independent Parquet readers (DuckDB, Polars, arrow-rs through
  # parquet-wasm, hyparquet), pinned in tests/package.json.
  stamp=tests/node_modules/.ursa-installed
  if [ ! -f "$stamp" ] || [ tests/package.json -nt "$stamp" ]; then
    echo "deps: installing the test tools (npm, tests/package.json)"
    (cd tests && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
    touch "$stamp"
  fi
fi
