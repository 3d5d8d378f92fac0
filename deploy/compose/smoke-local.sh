#!/bin/bash
# Smoke test of docker-compose.yaml's settings where there is no Docker engine (docs/deploy.md):
# the two nodes run from build/ursa with the environment `docker-compose config` gives them
# (S3 endpoint, credentials, ports and WAL directory swapped for local ones), nginx runs with
# deploy/compose/nginx.conf (upstream names and paths swapped), and the S3 store is the tests'
# Swift s3api (tests/s3/swift.sh, Debian packages) in place of MinIO. Checks round robin, the
# cluster view, a query over both nodes' buffers, flush, `ursa compact` as the Kubernetes CronJob
# runs it, and the WebSocket upgrade of /v1/live. Needs docker-compose, nginx, curl, python3-yaml.
# Usage (from the repository root): deploy/compose/smoke-local.sh
set -u
cd "$(dirname "$0")/../.."
S=$(mktemp -d /tmp/ursa-compose-smoke.XXXXXX)
export URSA_SWIFT_DIR=$S/swift URSA_SWIFT_BUCKET=ursa
P1=${P1:-18101} P2=${P2:-18102} PG=${PG:-18100}
pids=()
cleanup() {
  [ -f $S/nginx.pid ] && kill "$(cat $S/nginx.pid)" 2>/dev/null
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1; tests/s3/swift.sh stop > /dev/null 2>&1; rm -rf "$S"
}
trap cleanup EXIT
tests/s3/swift.sh start > $S/swift.log 2>&1 || { cat $S/swift.log; exit 1; }
eval "$(tests/s3/swift.sh env)"
docker-compose -f docker-compose.yaml --env-file .env.example config > $S/config.yaml || exit 1
for i in 1 2; do
  P=$([ $i = 1 ] && echo $P1 || echo $P2)
  python3 - $S/config.yaml ursa-$i > $S/env-$i <<'PY'
import sys, yaml, shlex
env = yaml.safe_load(open(sys.argv[1]))['services'][sys.argv[2]]['environment']
for k, v in env.items(): print(f"{k}={shlex.quote(str(v))}")
PY
  mkdir -p $S/wal-$i
  ( set -a; . $S/env-$i; set +a
    export URSA_STORE="s3://$URSA_TEST_S3_BUCKET/lake" S3_ENDPOINT_URL=$URSA_TEST_S3_ENDPOINT \
           S3_KEY=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY URSA_LISTEN=127.0.0.1:$P \
           URSA_ADVERTISE=127.0.0.1:$P URSA_WAL_DIR=$S/wal-$i
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    exec build/ursa serve ) > $S/ursa-$i.log 2>&1 &
  pids+=($!)
done
sed -e "s/server ursa-1:8000/server 127.0.0.1:$P1/; s/server ursa-2:8000/server 127.0.0.1:$P2/" \
    -e "s/listen 8000;/listen 127.0.0.1:$PG;/; s#/tmp/#$S/#g; s#access_log /dev/stdout#access_log $S/access.log#" \
    deploy/compose/nginx.conf > $S/nginx.conf
nginx -t -p $S/ -c $S/nginx.conf -e $S/nginx-error.log || exit 1
for _ in $(seq 100); do curl -sf localhost:$P1/healthz >/dev/null && curl -sf localhost:$P2/healthz >/dev/null && break; sleep 0.2; done
nginx -p $S/ -c $S/nginx.conf -e $S/nginx-error.log -g 'daemon on;' || exit 1
sleep 0.5
G=http://127.0.0.1:$PG
echo "--- PUT dataset (via nginx)"; curl -s -X PUT $G/v1/datasets/events -H 'Content-Type: application/json' \
  -d '{"columns":[{"name":"ts","type":"timestamp","nullable":false},{"name":"user_id","type":"int64"}],"time_column":"ts"}'; echo
for n in 1 2 3 4; do
  echo "--- POST records #$n (via nginx)"
  curl -s -X POST $G/v1/datasets/events/records -H 'Content-Type: application/x-ndjson' \
    --data-binary $'{"ts":"2026-12-07T10:00:00Z","user_id":1}\n{"ts":"2026-12-07T10:00:01Z","user_id":2}\n'; echo
done
echo "--- GET /v1/nodes (via nginx)"; curl -s $G/v1/nodes; echo
echo "--- count(*) over both nodes' buffers (via nginx)"
curl -s -X POST $G/v1/query -H 'Content-Type: application/json' -d '{"sql":"SELECT count(*) AS n FROM events"}'; echo
for p in $P1 $P2; do curl -s -X POST localhost:$p/v1/datasets/events/flush; echo; done
echo "--- ursa compact (the CronJob's command line)"
( export URSA_STORE="s3://$URSA_TEST_S3_BUCKET/lake" S3_ENDPOINT_URL=$URSA_TEST_S3_ENDPOINT S3_KEY=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; build/ursa compact --store "$URSA_STORE" --node compact; echo "compact rc=$?" )
echo "--- count(*) after flush and compact (via nginx)"
curl -s -X POST $G/v1/query -H 'Content-Type: application/json' -d '{"sql":"SELECT count(*) AS n FROM events"}'; echo
echo "--- WebSocket upgrade on /v1/live (via nginx)"
curl -s -i -N --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' $G/v1/live | head -1 | tr -d '\r'
echo "--- upstreams nginx used"; grep -o 'upstream=[^ ]*' $S/access.log | sort | uniq -c
kill "$(cat $S/nginx.pid)"; rm -f $S/nginx.pid
for p in "${pids[@]}"; do kill -TERM "$p"; done; wait
for i in 1 2; do echo "--- ursa-$i log (tail)"; tail -3 $S/ursa-$i.log; done
