# Ursa's container image: two stages on Debian 12 (bookworm) slim.
#   build:   the compiler and the -dev packages (those of scripts/deps.sh), builds build/ursa
#   runtime: the shared libraries the binary links against, the binary, a non-root user
# Build: docker build -t ursa .      Run: docker run -p 8000:8000 -v ursa-data:/data -v ursa-wal:/wal ursa
# Step by step, with API keys and TLS: docs/user-guide.md, "Running Ursa" > "In Docker".
# scripts/container-check.sh runs this file's FROM/COPY/ENV/WORKDIR/RUN steps in Debian 12 roots
# made by mmdebstrap (no Docker engine needed), then starts the binary and gets /healthz: keep to
# those instructions, one RUN per logical step, so the check keeps reading what Docker reads.

FROM debian:12-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
# The build packages: build_pkgs in scripts/deps.sh.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc make cmake ninja-build pkg-config libmicrohttpd-dev libjansson-dev libzstd-dev \
      libsnappy-dev zlib1g-dev libbrotli-dev liblz4-dev libxxhash-dev libcurl4-openssl-dev libssl-dev \
      libunistring-dev libpg-query-dev libprotobuf-c-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# What CMakeLists.txt reads at configure time (bench/ holds targets it declares, not built here).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/
COPY web/ web/
COPY bench/ bench/
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C build ursa \
 && strip build/ursa

FROM debian:12-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# The libraries build/ursa needs (readelf -d: NEEDED), by Debian package; apt adds what they need.
# curl is for the HEALTHCHECK only (it adds its binary: libcurl4 is needed anyway).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjansson4 libzstd1 libcurl4 libssl3 libsnappy1v5 libunistring2 \
      libpg-query1504.0 zlib1g libbrotli1 liblz4-1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ursa \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin ursa \
 && mkdir -p /data /wal \
 && chown ursa:ursa /data /wal
COPY --from=build /src/build/ursa /usr/local/bin/ursa
# The settings as environment variables (ursa serve --help), so that one -e changes one and the
# HEALTHCHECK follows the port and TLS (set URSA_TLS_CERT/URSA_TLS_KEY by -e, not as flags). The
# shutdown timeout stays under Kubernetes' default grace period (30 s), leaving 10 s to flush;
# raise both together (docs/user-guide.md, "Running Ursa").
ENV URSA_LISTEN=0.0.0.0:8000 \
    URSA_STORE=/data \
    URSA_WAL_DIR=/wal \
    URSA_SHUTDOWN_TIMEOUT=20
VOLUME ["/data", "/wal"]
EXPOSE 8000
USER 10001:10001
WORKDIR /data
# GET /healthz (open with API keys too) on the port of URSA_LISTEN; over HTTPS when URSA_TLS_CERT
# is set, where a plain request gets no answer (-k: the certificate names the public host, not
# 127.0.0.1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD s=http; [ -z "$URSA_TLS_CERT" ] || s=https; curl -fsSk -o /dev/null --max-time 4 "$s://127.0.0.1:${URSA_LISTEN##*:}/healthz"
# ursa serve waits for SIGTERM (stop) and SIGHUP (read the keys file again) itself (sigwait), so
# it needs no init as PID 1: `docker kill -s HUP` reaches it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ursa"]
CMD ["serve"]
