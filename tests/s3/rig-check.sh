#!/usr/bin/env bash
# rig-check.sh -- checks the S3 test rig itself, without Ursa: Swift answers Debian's awscli (small and
# multipart round trips, listing, multipart uploads, conditional PUT), and the fault proxy
# (tests/s3/s3fault.mjs) injects what it is told. Needs the variables of `tests/s3/swift.sh env`:
#   tests/s3/run-with-env.sh build/s3-test.env tests/s3/rig-check.sh
# A failure here means the rig is broken, not Ursa.
set -euo pipefail
: "${URSA_TEST_S3_ENDPOINT:?run through run-with-env.sh}" "${URSA_TEST_S3_BUCKET:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}"
here=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${URSA_TEST_TMP:-/tmp}/s3-rig.XXXXXX" 2>/dev/null || mktemp -d)
proxy_pid=""
cleanup() { [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER= AWS_EC2_METADATA_DISABLED=true
export AWS_DEFAULT_REGION=${URSA_TEST_S3_REGION:-us-east-1}
AWSCLI=${URSA_AWS:-/usr/bin/aws}; [ -x "$AWSCLI" ] || AWSCLI=aws
B=$URSA_TEST_S3_BUCKET P=rig-check-$$
fails=0 passes=0
ok() { passes=$((passes + 1)); echo "ok   $1"; }
bad() { fails=$((fails + 1)); echo "FAIL $1" >&2; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
aws_() { "$AWSCLI" --endpoint-url "$EP" "$@"; }

EP=$URSA_TEST_S3_ENDPOINT
head -c 100000 /dev/urandom > "$W/small"; head -c 17000000 /dev/urandom > "$W/big"; : > "$W/empty"
roundtrip() { aws_ s3 cp --only-show-errors "$W/$1" "s3://$B/$P/$2" && aws_ s3 cp --only-show-errors "s3://$B/$P/$2" "$W/$2.out" && cmp -s "$W/$1" "$W/$2.out"; }
check "awscli: put/get a small object" roundtrip small small
check "awscli: put/get an empty object" roundtrip empty empty
check "awscli: 17 MB multipart round trip" roundtrip big big
etag=$(aws_ s3api head-object --bucket "$B" --key "$P/big" --query ETag --output text)
check "multipart ETag ends in -N ($etag)" grep -q -- '-[0-9]*"$' <<< "$etag"
keys=$(aws_ s3api list-objects-v2 --bucket "$B" --prefix "$P/" --query 'Contents[].Key' --output text)
check "list-objects-v2 shows the 3 keys" test "$(tr '\t' '\n' <<< "$keys" | sort | tr '\n' ' ')" = "$P/big $P/empty $P/small "
ups=$(aws_ s3api list-multipart-uploads --bucket "$B" --prefix "$P/" --query 'length(Uploads || `[]`)' --output text)
check "no multipart upload left ($ups)" test "$ups" = 0
# Conditional PUT: the patched proxy answers 412 for an existing key (stock Swift: 501).
netrc=$W/netrc; printf 'default login %s password %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$netrc"
sha=$(sha256sum "$W/small" | cut -d' ' -f1)
cput() { curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --netrc-file "$netrc" \
  -H "x-amz-content-sha256: $sha" -H 'If-None-Match: *' -T "$W/small" "$1/$B/$P/$2"; }
check "If-None-Match: * on a new key -> 200" test "$(cput "$EP" cond)" = 200
check "If-None-Match: * on an existing key -> 412" test "$(cput "$EP" cond)" = 412

# The fault proxy, strict, in front of Swift.
UPSTREAM=$EP STRICT=1 node "$here/s3fault.mjs" > "$W/proxy.out" 2>&1 < /dev/null &
proxy_pid=$!
for _ in $(seq 1 100); do grep -q 'listening on' "$W/proxy.out" && break; sleep 0.05; done
PX=$(sed -n 's/^s3fault listening on \(http:[^ ]*\).*/\1/p' "$W/proxy.out")
check "proxy started ($PX)" test -n "$PX"
curl -sf -X POST "$PX/__faults" -d '[{"match":"^PUT ","action":"503","times":2}]' > /dev/null
check "through the proxy: awscli retries two 503 SlowDown and succeeds" env EP="$PX" bash -c "$(declare -f aws_ roundtrip); AWSCLI=$AWSCLI W=$W B=$B P=$P; roundtrip small via-proxy"
hits=$(curl -sf "$PX/__faults" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].hits))')
check "the 503 rule was hit twice ($hits)" test "$hits" = 2
s=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --netrc-file "$netrc" \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T - "$PX/$B/$P/chunked" < "$W/small")
check "strict proxy: chunked PUT -> 501 ($s)" test "$s" = 501
curl -sf -X POST "$PX/__faults" -d '[{"match":"^PUT ","action":"cut"}]' > /dev/null
s=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --netrc-file "$netrc" \
  -H "x-amz-content-sha256: $sha" -T "$W/small" "$PX/$B/$P/cut" || true)
exists() { aws_ s3api head-object --bucket "$B" --key "$P/$1" > /dev/null 2>&1; }
noanswer() { [ "$1" = 000 ] || [ "$1" = 100 ]; }   # 100: only "100 Continue" came back
check "cut: the client sees no answer ($s)" noanswer "$s"
check "cut: the object is stored all the same" exists cut
curl -sf -X POST "$PX/__faults" -d '[{"match":"^PUT ","action":"reset","bytes":30000}]' > /dev/null
s=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --netrc-file "$netrc" \
  -H "x-amz-content-sha256: $sha" -T "$W/small" "$PX/$B/$P/reset" || true)
check "reset mid-upload: no answer ($s)" noanswer "$s"
check "reset mid-upload: nothing stored" eval '! exists reset'
curl -sf -X POST "$PX/__faults" -d '[{"match":"^GET ","action":"slow","ms":1500}]' > /dev/null
t0=$(date +%s%N)
s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 --aws-sigv4 "aws:amz:$AWS_DEFAULT_REGION:s3" --netrc-file "$netrc" \
  -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' "$PX/$B/$P/small" || true)
check "slow: a 0.5 s client times out ($s after $(( ($(date +%s%N) - t0) / 1000000 )) ms)" test "$s" = 000
curl -sf -X DELETE "$PX/__faults" > /dev/null
kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=""

aws_ s3 rm --only-show-errors --recursive "s3://$B/$P/" || true
echo "rig-check: $passes passed, $fails failed"
[ "$fails" = 0 ]
