#!/usr/bin/env bash
# Installs every Debian 12 package the build, the daemon and the test suite use.
# Idempotent: packages already present are skipped; apt-get runs only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git clang-format
  clang-16 libclang-rt-16-dev  # libFuzzer (scripts/fuzz.sh); 16: C++20 captures of bindings
  # libraries
  libboost1.74-dev libssl-dev nlohmann-json3-dev libsqlite3-dev libsqlitecpp-dev
  libcpprest-dev libvirt-dev libnbd-dev libzstd-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libyaml-cpp-dev
  libxml2-dev
  # runtime tools used by plugins and tests
  libvirt0 qemu-utils libnbd-bin nbdkit openssl iproute2 nftables procps sqlite3 ca-certificates
  util-linux
  libvirt-daemon  # libvirtd serving the test driver: the dropped-connection test
  libvirt-daemon-driver-qemu qemu-system-x86  # a TCG guest on the embedded QEMU driver: running-domain replication
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: missing packages: ${missing[*]}" >&2
  echo "setup-deps: run this script as root (it uses apt-get) or install them by hand" >&2
  exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
