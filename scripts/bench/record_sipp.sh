#!/usr/bin/env bash
# Records real SIPp calls on a loopback interface with tcpdump: CALLS calls over
# UDP into OUTDIR/sipp_udp.pcap and CALLS calls over TCP (one connection, -t t1)
# into OUTDIR/sipp_tcp.pcap. SIPp (UAS on 127.0.0.1:5060, UAC from port 5061)
# and tcpdump run inside a private network namespace, so nothing else on the
# machine is captured and no port on the host is used. These small recordings
# are what scripts/bench/replicate.py turns into the large benchmark captures;
# tests/bench/ holds the committed ones.
# Usage: scripts/bench/record_sipp.sh [--calls N] [--rate CPS] [--out DIR]
#        (defaults: 50 calls, 50 calls/s, tests/bench). Needs root, sipp, tcpdump.
set -euo pipefail
calls=50
rate=50
out="$(cd "$(dirname "$0")/../.." && pwd)/tests/bench"
while [ $# -gt 0 ]; do
    case "$1" in
    --calls) calls=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "record_sipp: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "record_sipp: needs root (network namespace)" >&2; exit 1; }
for t in sipp tcpdump ip; do
    command -v "$t" >/dev/null || { echo "record_sipp: $t not found" >&2; exit 1; }
done
mkdir -p "$out"
ns="hbrec$$"
work=$(mktemp -d /tmp/hepagent-record.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
# (ip netns exec execs the command: $! of "ip netns exec ... &" is its pid)

# record TRANSPORT(udp|tcp) SIPP_T(u1|t1) FILE
record() {
    local proto=$1 t=$2 file=$3 tcpdump_pid uas_pid i
    ip netns exec "$ns" tcpdump -Z root -i lo -s 0 -U -w "$work/rec.pcap" "$proto port 5060" \
        2>"$work/tcpdump.log" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    for ((i = 0; i < 100; i++)); do
        grep -q "listening on" "$work/tcpdump.log" 2>/dev/null && break
        sleep 0.05
    done
    ip netns exec "$ns" sipp -sn uas -t "$t" -i 127.0.0.1 -p 5060 -nostdin -timeout 60s \
        </dev/null >"$work/uas.log" 2>&1 &
    uas_pid=$!
    pids+=("$uas_pid")
    sleep 0.5
    ip netns exec "$ns" timeout 120 sipp -sn uac -t "$t" 127.0.0.1:5060 -i 127.0.0.1 -p 5061 -m "$calls" \
        -r "$rate" -d 0 -nostdin -timeout 60s </dev/null >"$work/uac.log" 2>&1 || {
        echo "record_sipp: SIPp UAC ($proto) failed:" >&2
        tail -5 "$work/uac.log" >&2
        exit 1
    }
    sleep 0.5
    kill "$uas_pid" 2>/dev/null || true
    wait "$uas_pid" 2>/dev/null || true
    sleep 0.3
    kill -INT "$tcpdump_pid" 2>/dev/null || true
    wait "$tcpdump_pid" 2>/dev/null || true
    mv "$work/rec.pcap" "$file"
    echo "record_sipp: $calls calls over $proto -> $file ($(stat -c %s "$file") bytes)"
}

record udp u1 "$out/sipp_udp.pcap"
record tcp t1 "$out/sipp_tcp.pcap"
