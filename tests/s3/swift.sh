#!/usr/bin/env bash
# tests/s3/swift.sh start|stop|status|env -- a real S3 server for the tests: single-node OpenStack Swift
# with the s3api middleware, from Debian packages, on 127.0.0.1 only, all state in one directory.
#
#   tests/s3/swift.sh start     start (replacing a previous instance in the same directory), create the
#                               bucket, wait until it answers signed S3 requests, write the env file
#   tests/s3/swift.sh env       print the export lines for the tests (eval "$(tests/s3/swift.sh env)")
#   tests/s3/swift.sh status    exit 0 when every process is alive and the proxy answers
#   tests/s3/swift.sh stop      stop exactly the processes that start launched (pid files), then wait
#
# Environment (all optional):
#   URSA_SWIFT_DIR       state directory (default $URSA_TEST_TMP/ursa-swift, else /tmp/ursa-swift)
#   URSA_SWIFT_ENV_FILE  also write the export lines to this file at start (removed at stop)
#   URSA_SWIFT_BUCKET    bucket created at start (default ursa-test)
#   URSA_SWIFT_PORT      S3 (proxy) port; URSA_SWIFT_ACCOUNT_PORT, URSA_SWIFT_CONTAINER_PORT,
#   URSA_SWIFT_OBJECT_PORT, URSA_SWIFT_MEMCACHED_PORT: the back ends. Default: free ports picked at start.
#   URSA_SWIFT_COND_PUT  1 (default): run the proxy from a patched copy of Swift so that a PUT with
#                        "If-None-Match: *" answers 412 when the key exists (as AWS does) instead of 501
#
# Credentials: access key "ursa:tester" (Swift tempauth account:user), a secret made fresh at every start
# (so a test can grep logs for it), region us-east-1, path-style addressing. Packages (Debian 12):
#   apt-get install --no-install-recommends swift swift-proxy swift-object swift-container swift-account memcached
set -euo pipefail

cmd=${1:-}
D=${URSA_SWIFT_DIR:-${URSA_TEST_TMP:-/tmp}/ursa-swift}
mkdir -p "$D" 2>/dev/null || true
D=$(cd "$D" && pwd)
BUCKET=${URSA_SWIFT_BUCKET:-ursa-test}
ACCESS_KEY='ursa:tester'
REGION=us-east-1
# Debian's python (where the swift package lives), not whatever python3 comes first in PATH.
PY=${URSA_SWIFT_PYTHON:-/usr/bin/python3}
PROCS=(proxy object container account memcached)   # stop order

die() { echo "swift.sh: $*" >&2; exit 1; }

# A pid is ours only if the process carries our marker in its environment (pids are reused).
ours() { [ -r "/proc/$1/environ" ] && { tr '\0' '\n' < "/proc/$1/environ"; } 2>/dev/null | grep -qxF "URSA_SWIFT_OWNER=$D"; }

stop() {
  local pids=() f p
  for n in "${PROCS[@]}"; do
    f=$D/run/$n.pid
    [ -f "$f" ] || continue
    p=$(cat "$f")
    if [ -n "$p" ] && ours "$p"; then kill -TERM "$p" 2>/dev/null && pids+=("$p"); fi
    rm -f "$f"
  done
  # Processes of ours whose pid file is gone (the state directory was removed under them): found by
  # their exact marker, so that nothing outlives its directory.
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}; p=${p%/environ}
    [[ " ${pids[*]} " == *" $p "* ]] && continue
    if ours "$p"; then kill -TERM "$p" 2>/dev/null && pids+=("$p"); fi
  done
  # Wait up to 10 s, then SIGKILL the ones still there (still only ours).
  for _ in $(seq 1 100); do
    local alive=()
    for p in "${pids[@]}"; do ours "$p" && alive+=("$p"); done
    pids=("${alive[@]}")
    [ ${#pids[@]} -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do ours "$p" && kill -KILL "$p" 2>/dev/null || true; done
  [ -f "$D/env" ] && [ -n "$(sed -n 's/^# env-file //p' "$D/env")" ] && rm -f "$(sed -n 's/^# env-file //p' "$D/env")"
  rm -f "$D/env"
  return 0
}

status() {
  [ -f "$D/env" ] || { echo "swift.sh: not started in $D" >&2; return 1; }
  for n in "${PROCS[@]}"; do
    local p; p=$(cat "$D/run/$n.pid" 2>/dev/null || true)
    [ -n "$p" ] && ours "$p" || { echo "swift.sh: $n is not running (see $D/log/$n.log)" >&2; return 1; }
  done
  local port; port=$(sed -n 's/^# proxy-port //p' "$D/env")
  curl -sf -o /dev/null "http://127.0.0.1:$port/healthcheck" || { echo "swift.sh: proxy on port $port does not answer" >&2; return 1; }
}

free_ports() {  # N free TCP ports on 127.0.0.1, all held at once so they differ
  "$PY" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); socks.append(s)
print(' '.join(str(s.getsockname()[1]) for s in socks))
PY
}

port_free() { "$PY" -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$1" 2>/dev/null; }

write_configs() {
  local E=$D/etc common
  mkdir -p "$E" "$D/node/d1" "$D/run" "$D/log"
  common="[DEFAULT]
bind_ip = 127.0.0.1
# workers = 0: one process, no fork. With workers >= 1 the parent answers SIGTERM with killpg(0), which
# would also hit whatever process group launched it (ctest, node).
workers = 0
user = $(id -un)
swift_dir = $E
devices = $D/node
mount_check = false
disable_fallocate = true
log_level = INFO"
  for s in "account:$P_ACCOUNT" "container:$P_CONTAINER" "object:$P_OBJECT"; do
    local n=${s%:*} p=${s#*:}
    printf '%s\nbind_port = %s\n[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' \
      "$common" "$p" "$n" "$n" "$n" > "$E/$n-server.conf"
  done
  # One replica, one device per ring, built in one python process (faster than 9 swift-ring-builder calls).
  "$PY" - "$E" "$P_ACCOUNT" "$P_CONTAINER" "$P_OBJECT" <<'PY'
import sys
from swift.common.ring import RingBuilder
for name, port in (('account', sys.argv[2]), ('container', sys.argv[3]), ('object', sys.argv[4])):
    b = RingBuilder(10, 1, 1)
    b.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port), 'device': 'd1', 'weight': 100})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (sys.argv[1], name))
PY
  [ -s "$E/object.ring.gz" ] || { echo "swift.sh: building the rings failed" >&2; return 1; }
  cat > "$E/proxy-server.conf" <<EOF
$common
bind_port = $P_PROXY
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
[filter:s3api]
use = egg:swift#s3api
location = $REGION
storage_domain = s3.swift.test
[filter:tempauth]
use = egg:swift#tempauth
user_ursa_tester = $SECRET .admin
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$P_MEMCACHED
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF
  chmod 600 "$E/proxy-server.conf"
  if [ "${URSA_SWIFT_COND_PUT:-1}" = 1 ]; then
    # A copy of Swift for the proxy only, where s3api lets "If-None-Match: *" through to Swift's own
    # conditional PUT (412 when the object exists) instead of refusing every conditional PUT with 501.
    local src; src=$("$PY" -c 'import os, swift; print(os.path.dirname(swift.__file__))')
    mkdir -p "$D/py" && cp -r "$src" "$D/py/" || return 1
    local f=$D/py/swift/common/middleware/s3api/s3request.py
    sed -i "s/'If-Match', 'If-None-Match',/'If-Match',/" "$f"
    if grep -q "'If-Match', 'If-None-Match'," "$f"; then die "could not patch $f for conditional PUT (Swift version?)"; fi
  fi
}

# Runs a program detached (own session, stdin closed), its pid in run/NAME.pid, output in log/NAME.log.
launch() {
  local name=$1; shift
  URSA_SWIFT_OWNER=$D setsid bash -c 'echo $$ > "$0"; exec "$@"' "$D/run/$name.pid" "$@" \
    < /dev/null > "$D/log/$name.log" 2>&1 &
}

all_alive() {
  for n in "${PROCS[@]}"; do
    local p; p=$(cat "$D/run/$n.pid" 2>/dev/null || true)
    [ -n "$p" ] && ours "$p" || { dead=$n; return 1; }
  done
}

s3curl() {  # signed request with curl's SigV4 (the key holds ':', hence a netrc file, not -u)
  curl -s -o "$D/run/curl.out" -w '%{http_code}' --max-time 10 --aws-sigv4 "aws:amz:$REGION:s3" --netrc-file "$D/run/netrc" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' "$@"
}

start_once() {
  write_configs || return 1
  launch memcached memcached -l 127.0.0.1 -p "$P_MEMCACHED" -U 0 -m 64 -u "$(id -un)"
  local py=""
  [ -d "$D/py" ] && py=$D/py
  for n in account container object; do launch "$n" "swift-$n-server" "$D/etc/$n-server.conf" -v; done
  PYTHONPATH=$py launch proxy swift-proxy-server "$D/etc/proxy-server.conf" -v
  local t0=$SECONDS dead=""
  until [ -s "$D/run/proxy.pid" ] && curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$P_PROXY/healthcheck"; do
    sleep 0.1
    if [ $((SECONDS - t0)) -ge 60 ]; then echo "swift.sh: the proxy did not answer within 60 s" >&2; return 1; fi
    if [ -s "$D/run/proxy.pid" ] && ! all_alive; then echo "swift.sh: $dead exited at start:" >&2; tail -5 "$D/log/$dead.log" >&2; return 1; fi
  done
  printf 'default login %s password %s\n' "$ACCESS_KEY" "$SECRET" > "$D/run/netrc"
  chmod 600 "$D/run/netrc"
  local s=""
  for _ in $(seq 1 100); do   # the first requests may race the back ends' start
    s=$(s3curl -X PUT "http://127.0.0.1:$P_PROXY/$BUCKET") || s=000
    [ "$s" = 200 ] && break
    all_alive || { echo "swift.sh: $dead exited:" >&2; tail -5 "$D/log/$dead.log" >&2; return 1; }
    sleep 0.2
  done
  [ "$s" = 200 ] || { echo "swift.sh: creating bucket $BUCKET answered $s: $(head -c 300 "$D/run/curl.out")" >&2; return 1; }
  s=$(s3curl -I "http://127.0.0.1:$P_PROXY/$BUCKET") || s=000
  [ "$s" = 200 ] || { echo "swift.sh: HEAD bucket $BUCKET answered $s" >&2; return 1; }
}

start() {
  for c in memcached swift-proxy-server swift-object-server swift-container-server swift-account-server curl setsid; do
    command -v "$c" >/dev/null || die "$c not found; install the Debian packages: apt-get install --no-install-recommends swift swift-proxy swift-object swift-container swift-account memcached (or scripts/deps.sh test)"
  done
  [ -r /etc/swift/swift.conf ] || die "/etc/swift/swift.conf is missing (it comes with the Debian package swift; Swift reads its hash settings only there)"
  stop   # a previous instance in the same directory
  local started=$(date +%s%N) tries=0
  while :; do
    tries=$((tries + 1))
    rm -rf "$D/etc" "$D/node" "$D/run" "$D/log" "$D/py" "$D/env"
    read -r P_PROXY P_ACCOUNT P_CONTAINER P_OBJECT P_MEMCACHED < <(free_ports 5)
    P_PROXY=${URSA_SWIFT_PORT:-$P_PROXY}; P_ACCOUNT=${URSA_SWIFT_ACCOUNT_PORT:-$P_ACCOUNT}
    P_CONTAINER=${URSA_SWIFT_CONTAINER_PORT:-$P_CONTAINER}; P_OBJECT=${URSA_SWIFT_OBJECT_PORT:-$P_OBJECT}
    P_MEMCACHED=${URSA_SWIFT_MEMCACHED_PORT:-$P_MEMCACHED}
    for p in $P_PROXY $P_ACCOUNT $P_CONTAINER $P_OBJECT $P_MEMCACHED; do port_free "$p" || die "port $p on 127.0.0.1 is in use"; done
    SECRET=$(head -c 18 /dev/urandom | base64 | tr '+/' 'AB')
    if start_once; then break; fi
    stop
    # A port picked as free may have been taken in between: try again with new ones (when they were not given).
    [ $tries -lt 3 ] && [ -z "${URSA_SWIFT_PORT:-}${URSA_SWIFT_ACCOUNT_PORT:-}${URSA_SWIFT_OBJECT_PORT:-}" ] || die "start failed; logs in $D/log"
    echo "swift.sh: retrying with other ports" >&2
  done
  local ms=$(( ($(date +%s%N) - started) / 1000000 )) rss=0
  for n in "${PROCS[@]}"; do
    rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$(cat "$D/run/$n.pid")/status" 2>/dev/null || echo 0)))
  done
  {
    echo "# Swift + s3api started by tests/s3/swift.sh in $D"
    echo "# proxy-port $P_PROXY"
    [ -n "${URSA_SWIFT_ENV_FILE:-}" ] && echo "# env-file $(realpath -m "$URSA_SWIFT_ENV_FILE")"
    printf 'export URSA_TEST_S3_ENDPOINT=%q\n' "http://127.0.0.1:$P_PROXY"
    printf 'export URSA_TEST_S3_BUCKET=%q\n' "$BUCKET"
    printf 'export URSA_TEST_S3_REGION=%q\n' "$REGION"
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "$ACCESS_KEY"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$SECRET"
    printf 'export AWS_REGION=%q\n' "$REGION"
    printf 'export URSA_SWIFT_DIR=%q\n' "$D"
  } > "$D/env.tmp"
  chmod 600 "$D/env.tmp"
  mv "$D/env.tmp" "$D/env"
  if [ -n "${URSA_SWIFT_ENV_FILE:-}" ]; then
    mkdir -p "$(dirname "$URSA_SWIFT_ENV_FILE")"
    cp "$D/env" "$URSA_SWIFT_ENV_FILE.tmp" && mv "$URSA_SWIFT_ENV_FILE.tmp" "$URSA_SWIFT_ENV_FILE"
  fi
  echo "swift.sh: Swift s3api up on http://127.0.0.1:$P_PROXY (bucket $BUCKET, state $D) in ${ms} ms, ${rss} KiB RSS in ${#PROCS[@]} processes"
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "swift.sh: stopped ($D)" ;;
  status) status && echo "swift.sh: running ($D)" ;;
  env) status >/dev/null || die "not running in $D (tests/s3/swift.sh start)"; grep -v '^#' "$D/env" ;;
  *) echo "usage: $0 start|stop|status|env   (state in \$URSA_SWIFT_DIR, default \$URSA_TEST_TMP/ursa-swift or /tmp/ursa-swift)" >&2; exit 2 ;;
esac
