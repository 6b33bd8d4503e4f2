#!/usr/bin/env bash
# SIP over TLS decrypted with keys arriving late (a growing file, UDP
# datagrams as Kamailio's keylog_peer sends them; before, during and after
# the traffic, and too late) and live on loopback; see tls_decrypt.py.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$(command -v /usr/bin/python3 python3 | head -n 1)" "$HERE/tls_decrypt.py" "${1:-$HERE/../../build}"
