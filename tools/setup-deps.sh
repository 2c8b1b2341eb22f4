#!/usr/bin/env bash
# Installs the Debian packages Causeway needs to build, test and run, and nothing else.
# Idempotent: quiet when everything is present; runs `apt-get update` only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ninja-build git
  clang-format clang-tidy
  librocksdb-dev rocksdb-tools
  capnproto libcapnp-dev
  libuv1-dev
  libcli11-dev
  libgtest-dev libgmock-dev
  libtomlplusplus-dev
  libspdlog-dev libfmt-dev
  nlohmann-json3-dev
  prometheus-cpp-dev libsystemd-dev  # /metrics (rpc/internal/metrics.cc); sd_notify (serve.cc)
  python3-yaml  # tests/tools: the Kubernetes manifests parse
  libxxhash-dev
  libhiredis-dev  # `causeway bench --backend resp` (tools/internal/bench_backend.cc)
  redis-server redis-tools etcd-server etcd-client  # bench/compare.sh references
  libsodium-dev  # cluster secret HMAC, users' Argon2id hashes
  libssl-dev  # kj-tls (TLS for clients and peers) and `causeway cert` (OpenSSL 3)
  python3
  strace faketime  # fault injection in tests/cluster_proc (disk errors, skewed clocks)
  redis-tools python3-redis  # the RESP gateway's tests drive real redis-cli, redis-benchmark, redis-py
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done"
