#!/usr/bin/env bash
# run-with-env.sh ENV_FILE COMMAND [ARGS...] -- runs COMMAND with the variables of ENV_FILE exported
# (the export lines that tests/s3/swift.sh start writes: endpoint, bucket, credentials).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ENV_FILE COMMAND [ARGS...]" >&2; exit 2; }
f=$1; shift
[ -r "$f" ] || { echo "run-with-env.sh: $f not found: the S3 server was not started (tests/s3/swift.sh start, the ctest fixture 'swift')" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$f"
set +a
exec "$@"
