#!/usr/bin/env bash
# Installs the Debian packages hepagent needs to build, test and demo, when
# they are missing. Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail
case "${1:-}" in
-h | --help)
    echo "usage: scripts/install-deps.sh [--build-only]   (installs missing Debian packages; needs root)"
    exit 0
    ;;
esac

build=(build-essential cmake pkg-config libpcap-dev libuv1-dev libjson-c-dev zlib1g-dev libssl-dev
       libcap-ng-dev libmicrohttpd-dev)
test=(libcmocka-dev python3 tshark tcpdump sngrep kamailio sip-tester iproute2 tmux nodejs npm socat
      clang libclang-rt-14-dev valgrind python3-prometheus-client curl systemd lintian dpkg-dev
      util-linux adduser groff-base)
pkgs=("${build[@]}")
[ "${1:-}" = --build-only ] || pkgs+=("${test[@]}")

missing=()
for p in "${pkgs[@]}"; do
    # node may come from elsewhere than Debian: a working node and npm are enough
    if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
    if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
