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
# SIGTERM and checks the server exits within STOP_LIMIT seconds. It prints the time of each step.
#
# Run as root:  scripts/container-check.sh      (KEEP=1 keeps the roots in the printed directory)
# Needs: network to the Debian archive; mmdebstrap (installed with apt-get when missing).
# Typical time: about 4 minutes on 2 cores (the two roots, the build packages, the build).
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

# --- Start the server as the container would: ENTRYPOINT + CMD, the stage's ENV, USER, WORKDIR,
# PID 1 of its own PID namespace; the listen address moved to a free loopback port.
port=
for p in $(shuf -i 20000-40000 -n 20); do
  ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || die "no free loopback port"
stage_env+=("URSA_LISTEN=127.0.0.1:$port" "URSA_NODE=container-check")
cp /etc/resolv.conf "$root/etc/resolv.conf"
unshare --pid --fork --mount --propagation private -- /bin/sh -c '
  mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && shift && exec "$@"' sh "$root" \
  chroot --userspec="$user" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/data \
    "${stage_env[@]}" /bin/sh -c "cd '$wd' && exec \"\$@\"" sh "${entry[@]}" "${cmd[@]}" \
    > "$tmp/server.log" 2>&1 &
unshare_pid=$!
server_pid=$unshare_pid
# The server is the one child of unshare (the shell and chroot exec into it).
for _ in $(seq 50); do
  child=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}')
  [ -n "$child" ] && [ "$(readlink "/proc/$child/exe" 2>/dev/null)" = "$root/usr/local/bin/ursa" ] && break
  sleep 0.1
done
[ "$(readlink "/proc/$child/exe" 2>/dev/null)" = "$root/usr/local/bin/ursa" ] \
  || { cat "$tmp/server.log" >&2; die "the server did not start"; }
echo "container-check: server pid $child (PID 1 in its namespace), uid $(stat -c %u "/proc/$child"), 127.0.0.1:$port"
body=
for _ in $(seq 100); do
  body=$(curl -sS --max-time 2 -w ' %{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
  kill -0 "$child" 2>/dev/null || { cat "$tmp/server.log" >&2; die "the server exited"; }
  sleep 0.1
done
step "start ursa serve in the runtime root"
echo "container-check: GET /healthz -> $body"
[[ $body == *'"status"'*'"ok"'*' 200' ]] || { cat "$tmp/server.log" >&2; die "/healthz answered: $body"; }
step "GET /healthz from the host"

chroot --userspec="$user" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
  "${stage_env[@]}" /bin/sh -c "$health" || die "the HEALTHCHECK command failed: $health"
echo "container-check: HEALTHCHECK command exits 0"
step "HEALTHCHECK command inside the runtime root"

kill -TERM "$child"
t0=$(date +%s.%N); rc=0
for _ in $(seq $((STOP_LIMIT * 10))); do kill -0 "$unshare_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$unshare_pid" 2>/dev/null && { cat "$tmp/server.log" >&2; die "still running ${STOP_LIMIT}s after SIGTERM"; }
wait "$unshare_pid" || rc=$?
server_pid=
printf 'container-check: exited %.1fs after SIGTERM, status %d\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$rc"
[ "$rc" -eq 0 ] || { cat "$tmp/server.log" >&2; die "exit status $rc after SIGTERM"; }
step "SIGTERM -> exit"
echo "--- server log"; cat "$tmp/server.log"; echo "---"
printf 'container-check: OK, total %.1fs\n' "$(echo "$(date +%s.%N) - $t_start" | bc)"
