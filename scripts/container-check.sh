#!/usr/bin/env bash
# container-check.sh -- verifies the Dockerfile without a Docker engine.
#
# It reads the Dockerfile at the repository root and runs its steps for real: each
# "FROM debian:12-slim" becomes a fresh Debian 12 minbase root made by mmdebstrap from the
# machine's apt mirror; ENV, WORKDIR, COPY (from the build context or --from a stage) and RUN
# (/bin/sh -c in a chroot, in its own mount namespace) are replayed in order, so the check cannot
# drift from the recipe. Then, in the last stage's root, it starts ENTRYPOINT + CMD as the
# Dockerfile's USER, as PID 1 of a new PID namespace (as in a container), on a loopback port;
# gets /healthz from outside (200, {"status":"ok"}) and runs the HEALTHCHECK command inside; sends
# SIGTERM and checks the server exits within STOP_LIMIT seconds. Then once more with API keys and
# TLS as the user guide sets them up: `ursa keys add` from the image, 401 without a key and 200
# with it over HTTPS, the HEALTHCHECK over HTTPS, and a key added to the file taking effect after
# `sh -c 'kill -HUP 1'` inside the server's PID namespace (as docker exec / kubectl exec run it).
# It prints the time of each step.
#
# Run as root:  scripts/container-check.sh      (KEEP=1 keeps the roots in the printed directory)
# Needs: network to the Debian archive; mmdebstrap and openssl (installed with apt-get when missing).
# Typical time on 2 cores: 1.5 to 4 minutes (runs of 90, 177 and 214-234 s), mostly the base root,
# the packages and the build; the server checks take about a second.
# Cleans up its own temporary directory and its own processes (by PID); mounts are made only
# inside private mount namespaces, so they vanish with the processes that made them.
set -euo pipefail
cd "$(dirname "$0")/.."
ctx=$PWD
dockerfile=$ctx/Dockerfile
STOP_LIMIT=${STOP_LIMIT:-10}

[ "$(id -u)" -eq 0 ] || { echo "container-check: run as root (chroot, mmdebstrap)" >&2; exit 1; }

t_start=$(date +%s.%N)
t_step=$t_start
step() { # step NAME: prints the time since the previous step
  local now; now=$(date +%s.%N)
  printf '[%7.1fs] %-52s (%5.1fs)\n' "$(echo "$now - $t_start" | bc)" "$1" "$(echo "$now - $t_step" | bc)"
  t_step=$now
}
die() { echo "container-check: FAIL: $*" >&2; exit 1; }

command -v bc >/dev/null || { apt-get install -y -qq --no-install-recommends bc >/dev/null; }
if ! command -v mmdebstrap >/dev/null; then
  echo "container-check: installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

tmp=$(mktemp -d /var/tmp/ursa-container-check.XXXXXX)
server_pid=
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "container-check: kept $tmp"
  else rm -rf --one-file-system "$tmp"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

# The mirror: the first "URIs:" (deb822) or "deb" line of this machine's apt sources.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2; exit}')
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                             awk '$1=="deb"{for(i=2;i<=NF;i++) if($i ~ /^http/){print $i; exit}}')
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security

# --- Parse the Dockerfile into logical instructions (continuations joined, comments dropped).
mapfile -t instrs < <(awk '
  /^[[:space:]]*#/ && cont == "" { next }
  /^[[:space:]]*$/ && cont == "" { next }
  /^[[:space:]]*#/ { next }       # a comment inside a continued instruction
  { line = $0
    if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, "", line); cont = cont line " "; next }
    print cont line; cont = "" }' "$dockerfile")

# --- The base image: debian:12-slim is Debian 12 minbase without manuals, docs and locales, and
# with apt told to keep no caches (its /etc/apt/apt.conf.d/docker-clean); the same here.
base=$tmp/base
excl=()
for d in doc groff info linda lintian locale man; do excl+=(--dpkgopt="path-exclude=/usr/share/$d/*"); done
mmdebstrap --quiet --mode=root --variant=minbase --format=directory "${excl[@]}" \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  bookworm "$base" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main" \
  || die "mmdebstrap could not make a Debian 12 root from $mirror"
cat > "$base/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
rm -rf "$base"/var/lib/apt/lists/* "$base"/var/cache/apt/*.bin   # as in the image: no lists, no caches
step "base root: mmdebstrap bookworm minbase ($mirror)"

# in_root ROOT WORKDIR CMD: /bin/sh -c CMD in ROOT as root, with the stage's ENV, /dev and /proc.
in_root() {
  local root=$1 wd=$2 cmd=$3
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  unshare --mount --propagation private -- /bin/sh -c '
    mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && shift && exec "$@"' sh "$root" \
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root "${stage_env[@]}" /bin/sh -c "cd '$wd' && $cmd"
}

# --- Replay the instructions.
stage= root= wd=/ user=0:0 health=
entry=() cmd=() stage_env=()
json_words() { # ["a", "b"] -> one word a line (the simple arrays this Dockerfile uses)
  echo "$1" | sed -e 's/^[[:space:]]*\[//' -e 's/\][[:space:]]*$//' | tr ',' '\n' |
    sed -e 's/^[[:space:]]*"//' -e 's/"[[:space:]]*$//'
}
for ins in "${instrs[@]}"; do
  kw=${ins%%[[:space:]]*}; args=${ins#"$kw"}; args=${args#"${args%%[![:space:]]*}"}
  case ${kw^^} in
    FROM)
      read -r image _as name <<<"$args"
      [ "$image" = debian:12-slim ] || die "FROM $image: only debian:12-slim is emulated"
      stage=${name:-stage$RANDOM}; root=$tmp/$stage; wd=/; user=0:0; stage_env=()
      cp -a "$base" "$root"
      step "FROM debian:12-slim AS $stage" ;;
    ENV)
      for kv in $args; do
        [[ $kv == *=* ]] || die "ENV $args: only KEY=VALUE is emulated"
        stage_env+=("$kv")
      done ;;
    WORKDIR) wd=$args; mkdir -p "$root$wd" ;;
    COPY)
      from=; set -- $args
      while [[ $1 == --* ]]; do [[ $1 == --from=* ]] && from=${1#--from=}; shift; done
      dest=${*: -1}; [[ $dest == /* ]] || dest=$wd/$dest
      srcdir=$ctx; [ -n "$from" ] && srcdir=$tmp/$from
      for ((i = 1; i < $#; i++)); do
        s=${!i}; [[ $s == /* ]] && s=${s#/}
        if [ -d "$srcdir/$s" ]; then mkdir -p "$root$dest"; cp -a "$srcdir/$s/." "$root$dest/"
        elif [[ $dest == */ ]]; then mkdir -p "$root$dest"; cp -a "$srcdir/$s" "$root$dest"
        else mkdir -p "$(dirname "$root$dest")"; cp -a "$srcdir/$s" "$root$dest"; fi
      done
      step "COPY $args" ;;
    RUN)
      in_root "$root" "$wd" "$args" > "$tmp/run.log" 2>&1 \
        || { tail -30 "$tmp/run.log" >&2; die "RUN failed in stage $stage: $args"; }
      step "RUN ${args:0:46}" ;;
    USER) user=$args ;;
    ENTRYPOINT) mapfile -t entry < <(json_words "$args") ;;
    CMD) mapfile -t cmd < <(json_words "$args") ;;
    HEALTHCHECK) health=${args#*CMD }; [[ $args == *CMD* ]] || die "HEALTHCHECK without CMD" ;;
    STOPSIGNAL) [ "$args" = SIGTERM ] || die "STOPSIGNAL $args: the check sends SIGTERM" ;;
    EXPOSE|VOLUME|LABEL|ARG) ;;
    *) die "Dockerfile instruction $kw is not emulated" ;;
  esac
done
[ ${#entry[@]} -gt 0 ] || die "no ENTRYPOINT"
[ -n "$health" ] || die "no HEALTHCHECK"
[ "$user" != 0:0 ] && [ "$user" != root ] || die "the runtime stage runs as root"
echo "container-check: runtime root $(du -xsh "$root" | cut -f1), base $(du -xsh "$base" | cut -f1) (stage $stage, user $user)"

# --- The server as the container runs it: ENTRYPOINT + CMD, the stage's ENV (and the given),
# USER, WORKDIR, PID 1 of its own PID namespace; the listen address moved to a free loopback port.
port=
for p in $(shuf -i 20000-40000 -n 20); do
  ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || die "no free loopback port"
stage_env+=("URSA_LISTEN=127.0.0.1:$port" "URSA_NODE=container-check")
start_server() { # start_server LOGNAME [VAR=VALUE...]: sets unshare_pid, server_pid, child
  local log=$tmp/$1.log; shift
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  unshare --pid --fork --mount --propagation private -- /bin/sh -c '
    mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && shift && exec "$@"' sh "$root" \
    chroot --userspec="$user" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/data \
      "${stage_env[@]}" "$@" /bin/sh -c "cd '$wd' && exec \"\$@\"" sh "${entry[@]}" "${cmd[@]}" \
      > "$log" 2>&1 &
  unshare_pid=$!
  server_pid=$unshare_pid
  # The server is the one child of unshare (the shell and chroot exec into it).
  for _ in $(seq 50); do
    child=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}')
    [ -n "$child" ] && [ "$(readlink "/proc/$child/exe" 2>/dev/null)" = "$root/usr/local/bin/ursa" ] && break
    sleep 0.1
  done
  [ "$(readlink "/proc/$child/exe" 2>/dev/null)" = "$root/usr/local/bin/ursa" ] \
    || { cat "$log" >&2; die "the server did not start"; }
  echo "container-check: server pid $child (PID 1 in its namespace), uid $(stat -c %u "/proc/$child"), 127.0.0.1:$port"
}
wait_health() { # wait_health LOGNAME URL [curl options]: until /healthz answers; sets body
  local log=$tmp/$1.log url=$2; shift 2
  body=
  for _ in $(seq 100); do
    body=$(curl -sS --max-time 2 -w ' %{http_code}' "$@" "$url" 2>/dev/null) && break
    kill -0 "$child" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
    sleep 0.1
  done
  echo "container-check: GET $url -> $body"
  [[ $body == *'"status"'*'"ok"'*' 200' ]] || { cat "$log" >&2; die "/healthz answered: $body"; }
}
healthcheck() { # healthcheck [VAR=VALUE...]: the HEALTHCHECK command inside the root, as USER
  chroot --userspec="$user" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
    "${stage_env[@]}" "$@" /bin/sh -c "$health" || die "the HEALTHCHECK command failed: $health"
  echo "container-check: HEALTHCHECK command exits 0"
}
stop_server() { # stop_server LOGNAME: SIGTERM; exit 0 within STOP_LIMIT seconds
  local log=$tmp/$1.log t0 rc=0
  kill -TERM "$child"
  t0=$(date +%s.%N)
  for _ in $(seq $((STOP_LIMIT * 10))); do kill -0 "$unshare_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$unshare_pid" 2>/dev/null && { cat "$log" >&2; die "still running ${STOP_LIMIT}s after SIGTERM"; }
  wait "$unshare_pid" || rc=$?
  server_pid=
  printf 'container-check: exited %.1fs after SIGTERM, status %d\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc"
  [ "$rc" -eq 0 ] || { cat "$log" >&2; die "exit status $rc after SIGTERM"; }
}

start_server server
wait_health server "http://127.0.0.1:$port/healthz"
step "start ursa serve in the runtime root, GET /healthz"
healthcheck
step "HEALTHCHECK command inside the runtime root"
stop_server server
step "SIGTERM -> exit"
echo "--- server log"; cat "$tmp/server.log"; echo "---"

# --- API keys and TLS as docs/user-guide.md sets them up: `ursa keys add` run from the image as
# another user (docker run --user "$(id -u)"), the file made readable for the server's user
# (chmod 644), the server with URSA_AUTH_KEYS and URSA_TLS_CERT/KEY; /healthz open, 401 without a
# key, 200 with it, the HEALTHCHECK over HTTPS; a key added to the file, then `sh -c 'kill -HUP 1'`
# run inside the server's PID namespace as its user (what docker exec / kubectl exec do) makes
# the server read it; SIGTERM.
command -v openssl >/dev/null || { apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
mkdir -p "$root/auth" "$root/tls"
chown 4242:4242 "$root/auth"
keys_add() { # keys_add NAME SCOPES: the new key on stdout, as uid 4242 in the runtime root
  chroot --userspec=4242:4242 "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
    "${entry[@]}" keys add "$1" --scopes "$2" --file /auth/keys 2>/dev/null
}
key1=$(keys_add admin admin) || die "ursa keys add failed in the runtime root"
[[ $key1 =~ ^ursa_[A-Za-z0-9_-]{43}$ ]] || die "ursa keys add printed no key"
echo "container-check: ursa keys add as uid 4242: $(stat -c '%a %u' "$root/auth/keys") (mode, owner)"
chmod 644 "$root/auth/keys"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=ursa.example \
  -keyout "$root/tls/key.pem" -out "$root/tls/cert.pem" 2>/dev/null || die "openssl could not make a certificate"
chown "$user" "$root/tls/key.pem"
tls_env=(URSA_AUTH_KEYS=/auth/keys URSA_TLS_CERT=/tls/cert.pem URSA_TLS_KEY=/tls/key.pem)
start_server keys "${tls_env[@]}"
wait_health keys "https://127.0.0.1:$port/healthz" -k
status() { curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$@" "https://127.0.0.1:$port/v1/datasets"; }
[ "$(status)" = 401 ] || die "GET /v1/datasets without a key: $(status), not 401"
[ "$(status -H "Authorization: Bearer $key1")" = 200 ] || die "GET /v1/datasets with the key: not 200"
echo "container-check: GET /v1/datasets over HTTPS: 401 without a key, 200 with it"
step "keys file and TLS: start, /healthz, 401, 200"
healthcheck "${tls_env[@]}"
step "HEALTHCHECK command over HTTPS"
key2=$(keys_add reader 'query:*') || die "ursa keys add (second key) failed"
[ "$(status -H "Authorization: Bearer $key2")" = 401 ] || die "a key added to the file works before SIGHUP"
nsenter --target "$child" --pid --root --wd --setuid "${user%%:*}" --setgid "${user##*:}" \
  /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin /bin/sh -c 'kill -HUP 1' \
  || die "sh -c 'kill -HUP 1' failed in the server's PID namespace"
got=
for _ in $(seq 30); do got=$(status -H "Authorization: Bearer $key2"); [ "$got" = 200 ] && break; sleep 0.1; done
[ "$got" = 200 ] || { cat "$tmp/keys.log" >&2; die "the key added before SIGHUP: $got, not 200"; }
echo "container-check: sh -c 'kill -HUP 1' in the container's PID namespace: the added key answers 200"
[ -x "$root/usr/bin/kill" ] || [ -x "$root/bin/kill" ] || echo "container-check: (the image has no kill program: use the shell's, sh -c 'kill -HUP 1')"
step "SIGHUP to PID 1 reads the keys file again"
stop_server keys
step "SIGTERM -> exit"
echo "--- server log (keys, TLS)"; cat "$tmp/keys.log"; echo "---"
grep -qF "${key1#ursa_}" "$tmp/keys.log" "$tmp/server.log" && die "a key is in the server log"
printf 'container-check: OK, total %.1fs\n' "$(echo "$(date +%s.%N) - $t_start" | bc)"
