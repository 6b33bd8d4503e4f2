#!/usr/bin/env bash
# The quick start: installs what is missing, builds, runs hepagent live on
# loopback with the built-in default config (SIP on 5060-5090 -> HEP to
# udp://127.0.0.1:9060) while SIPp places a few calls, and shows what a real
# HEP listener (sngrep) received. Usage: scripts/demo.sh [CALLS]   (needs root)
set -euo pipefail
case "${1:-}" in
-h | --help)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
calls=${1:-5}
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/hepagent-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

for port in 9060 5060 5061; do
    if ss -Hlun "sport = :$port" | grep -q .; then
        echo "demo: UDP port $port is in use; stop what uses it (the demo uses 9060, 5060, 5061)" >&2
        exit 1
    fi
done

echo "== sngrep listens for HEP on udp:127.0.0.1:9060 and writes $work/received.pcap"
sngrep -N -q -L udp:127.0.0.1:9060 -O "$work/received.pcap" </dev/null >"$work/sngrep.log" 2>&1 &
pids+=($!)
sngrep_pid=$!

echo "== hepagent captures live with the built-in default config (interface \"any\")"
build/hepagent --stats 2>"$work/hepagent.log" &
pids+=($!)
agent_pid=$!
sleep 1

echo "== SIPp: a UAS on 127.0.0.1:5060, a UAC placing $calls calls from port 5061"
sipp -sn uas -i 127.0.0.1 -p 5060 -nostdin -bg -timeout 30s >/dev/null 2>&1 || true
sipp -sn uac 127.0.0.1:5060 -i 127.0.0.1 -p 5061 -m "$calls" -r 5 -d 200 -nostdin \
    -timeout 30s -trace_stat -stf "$work/uac.csv" >/dev/null 2>&1 || true
pkill -f "sipp -sn uas -i 127.0.0.1 -p 5060" 2>/dev/null || true
sleep 0.5

kill -TERM "$agent_pid"
wait "$agent_pid" || true
kill -TERM "$sngrep_pid"
wait "$sngrep_pid" || true

echo
echo "== what hepagent counted"
grep -E '^(frames|sip_messages|rules_sent|hep_packets|collector\[.*\]\.(sent|dropped_queue_full)) ' \
    "$work/hepagent.log" || cat "$work/hepagent.log"
echo
echo "== what sngrep received over HEP ($work/received.pcap)"
tshark -n -r "$work/received.pcap" -Y sip 2>/dev/null | head -40
echo
echo "received: $(tshark -n -r "$work/received.pcap" -Y sip 2>/dev/null | wc -l) SIP messages"
echo "read them with: tshark -r $work/received.pcap -Y sip -V | less   or   sngrep -I $work/received.pcap"
