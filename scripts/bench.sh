#!/usr/bin/env bash
# hepagent benchmark (issue 6): prints ratios measured in the same run.
#
# Input: real SIPp calls recorded on loopback (tests/bench/sipp_udp.pcap and
# sipp_tcp.pcap, made by scripts/bench/record_sipp.sh), replicated by
# scripts/bench/replicate.py into large captures with distinct Call-IDs
# (default 100000 calls: 600k SIP messages; cached in build-bench/bench-data).
#
# Offline (in a private network namespace, to a bench_sink on its loopback):
#   floor     tests/tools/bench_floor: libpcap reads each record, one send() of
#             its bytes, unparsed, per record (UDP)
#   hepagent  hepagent -r CAPTURE -H udp://... and -H tcp://...
#   sngrep    sngrep -F -N -q -l CALLS -I CAPTURE -H udp:... (when installed;
#             -l: its default 20000-dialog limit would stop it sending)
# for the UDP capture and the TCP capture; wall time, packets/s, CPU time, max
# RSS, delivered/expected; ratios hepagent/floor and sngrep/hepagent.
# QoS (issue 11, unless --no-qos): tests/tools/gen_media.py --bench writes a
# capture of --qos-calls concurrent calls (default 1000) with G.711 RTP both
# ways for --qos-seconds (default 10: 1M RTP packets) and one a tenth as long;
# tests/qos_replay measures them offline on one core against a floor that
# reads, decodes and parses the same packets without the QoS table
# (scripts/bench/qos.py): packets/s, ns/packet, peak RSS at both lengths.
# TLS (issue 14, unless --no-tls): the TCP capture's calls over TLS 1.3
# (scripts/bench/tlsify.py: a handshake per connection, one AES-128-GCM
# record per segment, a key log), replayed by hepagent on one core with and
# without TLS (scripts/bench/tls.py): decrypted SIP messages per second and
# the TLS/TCP cost ratio (goal <= 2).
# Live (unless --no-live): two network namespaces joined by a veth pair;
# tcpreplay sends the UDP capture at fixed rates; hepagent captures the other
# end; kernel drops, agent drops, delivery and latency per rate.
# Scrape (unless --no-scrape): hepagent captures on a namespace's loopback
# with the metrics endpoint on; scripts/bench/scrape.py times 1000 requests of
# /metrics, /stats and a 404 page (the baseline: same HTTP path, nothing to
# render) over keep-alive, and hepagent's CPU time per request.
# Live media (issue 11, unless --no-media): on the same veth, a capture of
# --media-calls concurrent calls (default 1000: SIP about 1000 msg/s, RTP
# 200 000 packets/s, scripts/bench/media_capture.py) replayed at each of
# --media-rates packets/s with media.rtcp and media.qos on, once with the
# RTP-cutting kernel filter (the default) and once without (rtp_snap 0):
# kernel drops, SIP delivered, final QoS reports, bytes copied, CPU
# (scripts/bench/media.py).
#
# Usage: scripts/bench.sh [options]          (needs root)
#   --quick          small run: 10000 calls, 1 repeat, 2 s per live rate
#   --no-live        skip the live part      --no-offline  skip the offline part
#   --no-sngrep      skip sngrep
#   --no-qos         skip the QoS part
#   --no-tls         skip the TLS part
#   --qos-calls N    concurrent calls of the QoS capture (default 1000)
#   --qos-seconds S  its length in seconds (default 10)
#   --no-scrape      skip the metrics scrape
#   --no-relay       skip the relay (the UDP capture's HEP sent into hepagent
#                    --listen over UDP and TCP by tests/tools/hep_feed, relayed
#                    to a bench_sink; CPU per packet against the capture's)
#   --relay-pps N    pace the UDP feed at N packets/s (default 0: unpaced)
#   --calls N        calls in the large captures (default 100000)
#   --repeat N       runs of each floor/hepagent case, median shown (default 3)
#   --rates LIST     live rates in SIP msg/s (default 10000,50000,100000,200000)
#   --duration S     seconds per live rate (default 5)
#   --buffer-mb N    hepagent's capture buffer for the live part (default: its 32)
#   --no-media       skip the live media part
#   --media-calls N  concurrent calls of the media capture (default 1000)
#   --media-rates L  packet rates of the live media part (default 200000,300000)
#   --keep           keep the work directory (default: removed at exit)
#   -h, --help       this text
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
calls=100000
repeat=3
rates=10000,50000,100000,200000
duration=5
live=1
offline=1
sngrep=1
qos=1
tls=1
qos_calls=1000
qos_seconds=10
scrape=1
relay=1
relay_pps=0
keep=0
buffer_mb=
media=1
media_calls=1000
media_rates=200000,300000
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) calls=10000; repeat=1; duration=2; qos_seconds=2; shift ;;
    --no-live) live=0; shift ;;
    --no-offline) offline=0; shift ;;
    --no-sngrep) sngrep=0; shift ;;
    --no-qos) qos=0; shift ;;
    --no-tls) tls=0; shift ;;
    --qos-calls) qos_calls=$2; shift 2 ;;
    --qos-seconds) qos_seconds=$2; shift 2 ;;
    --no-scrape) scrape=0; shift ;;
    --no-relay) relay=0; shift ;;
    --relay-pps) relay_pps=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --buffer-mb) buffer_mb=$2; shift 2 ;;
    --no-media) media=0; shift ;;
    --media-calls) media_calls=$2; shift 2 ;;
    --media-rates) media_rates=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (network namespaces, veth)" >&2; exit 1; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# ---- packages ----------------------------------------------------------------
pkgs=(build-essential cmake pkg-config libpcap-dev libuv1-dev libjson-c-dev zlib1g-dev libssl-dev
      libcmocka-dev python3 iproute2 tcpdump sip-tester time)
[ "$tls" = 1 ] && pkgs+=(python3-cryptography util-linux)
[ "$live" = 1 ] || [ "$media" = 1 ] && pkgs+=(tcpreplay)
[ "$sngrep" = 1 ] && pkgs+=(sngrep)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$sngrep" = 1 ] && ! command -v sngrep >/dev/null; then
    echo "bench: sngrep not available: its baseline is skipped"
    sngrep=0
fi

# ---- build (Release) -------------------------------------------------------------
bin="$root/build-bench"
echo "== building Release into $bin"
cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=Release >"$bin.log" 2>&1 ||
    { cat "$bin.log" >&2; exit 1; }
cmake --build "$bin" -j"$(nproc)" --target hepagent bench_sink bench_floor qos_replay hep_feed hep_sink >>"$bin.log" 2>&1 ||
    { tail -30 "$bin.log" >&2; exit 1; }

# ---- work dir, namespaces, cleanup ----------------------------------------------
work=$(mktemp -d /tmp/hepagent-bench.XXXXXX)
tag=$$
ns_off="hbo$tag" ns_tx="hbt$tag" ns_rx="hbr$tag" ns_scrape="hbs$tag"
if_tx="hbt$tag" if_rx="hbr$tag"
runner_pid=
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$runner_pid" ]; then
        kill "$runner_pid" 2>/dev/null
        wait "$runner_pid" 2>/dev/null
    fi
    for ns in "$ns_off" "$ns_off-t" "$ns_tx" "$ns_rx" "$ns_scrape"; do
        # only what runs inside our own namespaces
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    done
    sleep 0.2
    for ns in "$ns_off" "$ns_off-t" "$ns_tx" "$ns_rx" "$ns_scrape"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "$keep" = 1 ]; then echo "bench: work directory kept: $work"; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# runs the python runner in the background, so a signal reaches the trap at once
runner() {
    "$@" &
    runner_pid=$!
    wait "$runner_pid"
    local rc=$?
    runner_pid=
    return $rc
}

# ---- captures (deterministic, cached) --------------------------------------------
data="$bin/bench-data"
mkdir -p "$data"
# make NAME RECORDING CALLS: $data/NAME.pcap and NAME.json, unless up to date
make_capture() {
    local name=$1 rec=$2 n=$3 out="$data/$1.pcap" meta="$data/$1.json"
    if [ -f "$out" ] && [ -f "$meta" ] && [ "$out" -nt "$rec" ] &&
        [ "$out" -nt "$root/scripts/bench/replicate.py" ] &&
        grep -q "\"calls_requested\": $n," "$meta" 2>/dev/null; then
        return 0
    fi
    "$PY" "$root/scripts/bench/replicate.py" "$rec" "$out.tmp" --calls "$n" --meta "$meta.tmp" \
        >/dev/null
    mv "$out.tmp" "$out"
    mv "$meta.tmp" "$meta"
}
echo "== captures: $calls calls, replicated from tests/bench/sipp_{udp,tcp}.pcap"
t0=$(date +%s%N)
small=$((calls / 10))
if [ "$offline" = 1 ]; then
    make_capture "udp-$calls" "$root/tests/bench/sipp_udp.pcap" "$calls"
    make_capture "tcp-$calls" "$root/tests/bench/sipp_tcp.pcap" "$calls"
    make_capture "udp-$small" "$root/tests/bench/sipp_udp.pcap" "$small"
fi
[ "$live" = 1 ] && make_capture "udp-live" "$root/tests/bench/sipp_udp.pcap" 20000
echo "   ready in $((($(date +%s%N) - t0) / 1000000)) ms ($data)"

echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
" kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   hepagent $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'), Release build;"\
" sngrep $(command -v sngrep >/dev/null && sngrep -V | head -1 | awk '{print $3}' || echo none);"\
" tcpreplay $(command -v tcpreplay >/dev/null && tcpreplay -V 2>&1 | head -1 | awk '{print $3}' || echo none)"

# ---- offline -------------------------------------------------------------------------
if [ "$offline" = 1 ]; then
    ip netns add "$ns_off"
    ip -n "$ns_off" link set lo up
    # the documented default config (what hepagent uses built in), so that an
    # /etc/hepagent/hepagent.json on this machine cannot change what is measured
    offline_args=(--bin "$bin" --repeat "$repeat" --workdir "$work" --config "$root/conf/hepagent.json"
        --capture "udp=$data/udp-$calls.pcap:$data/udp-$calls.json"
        --capture "tcp=$data/tcp-$calls.pcap:$data/tcp-$calls.json"
        --capture "small=$data/udp-$small.pcap:$data/udp-$small.json")
    [ "$sngrep" = 1 ] && offline_args+=(--sngrep)
    [ "$relay" = 1 ] && offline_args+=(--relay --relay-pps "$relay_pps")
    echo "== offline runs (network namespace $ns_off)"
    runner ip netns exec "$ns_off" "$PY" "$root/scripts/bench/run.py" offline "${offline_args[@]}"
fi

# ---- QoS (passive RTP measurement) -------------------------------------------------
if [ "$qos" = 1 ]; then
    echo
    echo "== QoS offline: $qos_calls calls, RTP both ways, ${qos_seconds} s (qos_replay, one core)"
    small_s=$(((qos_seconds + 9) / 10))
    for s in "$qos_seconds" "$small_s"; do
        f="$data/rtp-$qos_calls-$s.pcap"
        if [ ! -f "$f" ] || [ "$root/tests/tools/gen_media.py" -nt "$f" ]; then
            "$PY" "$root/tests/tools/gen_media.py" --bench "$f.tmp" "$qos_calls" "$s"
            mv "$f.tmp" "$f"
        fi
    done
    runner "$PY" "$root/scripts/bench/qos.py" --tool "$bin/tests/qos_replay" --repeat "$repeat" \
        --capture "$data/rtp-$qos_calls-$qos_seconds.pcap" --small "$data/rtp-$qos_calls-$small_s.pcap"
fi

# ---- TLS (decryption from key logs) --------------------------------------------------
if [ "$tls" = 1 ]; then
    echo
    echo "== TLS offline: the $calls calls of the TCP capture over TLS 1.3, decrypted (one core)"
    make_capture "tcp-$calls" "$root/tests/bench/sipp_tcp.pcap" "$calls"
    tcp_cap="$data/tcp-$calls.pcap" tls_cap="$data/tls-$calls.pcap"
    if [ ! -f "$tls_cap" ] || [ "$tcp_cap" -nt "$tls_cap" ] ||
        [ "$root/scripts/bench/tlsify.py" -nt "$tls_cap" ]; then
        "$PY" "$root/scripts/bench/tlsify.py" "$tcp_cap" "$tls_cap.tmp" "$data/tls-$calls.keys" \
            --meta "$data/tcp-$calls.json" "$data/tls-$calls.json" >/dev/null
        mv "$tls_cap.tmp" "$tls_cap"
    fi
    ip netns add "$ns_off-t"
    ip -n "$ns_off-t" link set lo up
    runner ip netns exec "$ns_off-t" "$PY" "$root/scripts/bench/tls.py" --bin "$bin" \
        --config "$root/conf/hepagent.json" --repeat "$repeat" --workdir "$work" \
        --tcp "$tcp_cap:$data/tcp-$calls.json" --tls "$tls_cap:$data/tls-$calls.json:$data/tls-$calls.keys"
    ip netns del "$ns_off-t"
fi

# ---- live ------------------------------------------------------------------------------
veth_up() {
    ip netns add "$ns_tx"
    ip netns add "$ns_rx"
    ip link add "$if_tx" netns "$ns_tx" type veth peer name "$if_rx" netns "$ns_rx"
    for ns in "$ns_tx" "$ns_rx"; do
        # no IPv6 autoconfiguration chatter on the veth: every frame is the replay's
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
        ip -n "$ns" link set lo up
    done
    ip netns exec "$ns_tx" sysctl -q -w "net.ipv6.conf.$if_tx.disable_ipv6=1" >/dev/null 2>&1 || true
    ip netns exec "$ns_rx" sysctl -q -w "net.ipv6.conf.$if_rx.disable_ipv6=1" >/dev/null 2>&1 || true
    ip -n "$ns_tx" link set "$if_tx" up
    ip -n "$ns_rx" link set "$if_rx" up
}
if [ "$live" = 1 ] || [ "$media" = 1 ]; then
    veth_up
fi
if [ "$live" = 1 ]; then
    echo
    echo "== live runs: namespaces $ns_tx -> $ns_rx over veth $if_tx/$if_rx"
    live_args=(--bin "$bin" --capture "$data/udp-live.pcap" --meta "$data/udp-live.json"
        --tx-ns "$ns_tx" --tx-if "$if_tx" --rx-ns "$ns_rx" --rx-if "$if_rx"
        --rates "$rates" --duration "$duration" --workdir "$work")
    if [ -n "$buffer_mb" ]; then
        # the default config with another capture buffer
        "$PY" - "$root/conf/hepagent.json" "$buffer_mb" >"$work/hepagent-live.json" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
print(re.sub(r'"buffer_mb":\s*[0-9]+', '"buffer_mb": %d' % int(sys.argv[2]), text))
EOF
        live_args+=(--config "$work/hepagent-live.json" --buffer-mb "$buffer_mb")
    else
        live_args+=(--config "$root/conf/hepagent.json" --buffer-mb 32)
    fi
    runner "$PY" "$root/scripts/bench/run.py" live "${live_args[@]}"
fi

# ---- metrics scrape ----------------------------------------------------------------------
if [ "$scrape" = 1 ]; then
    echo
    echo "== metrics scrape: namespace $ns_scrape, 1000 requests each over keep-alive"
    ip netns add "$ns_scrape"
    ip -n "$ns_scrape" link set lo up
    ip netns exec "$ns_scrape" "$bin/hepagent" -c "$root/conf/hepagent.json" -i lo \
        --metrics 127.0.0.1:9096 2>"$work/scrape-agent.log" &
    scrape_pid=$!
    for _ in $(seq 100); do grep -q "metrics on" "$work/scrape-agent.log" && break; sleep 0.05; done
    runner ip netns exec "$ns_scrape" "$PY" "$root/scripts/bench/scrape.py" 127.0.0.1 9096 \
        "$scrape_pid" 1000
    kill "$scrape_pid"
    wait "$scrape_pid" || true
fi

# ---- live media ---------------------------------------------------------------------
if [ "$media" = 1 ]; then
    echo
    echo "== live media: $media_calls calls, SIP + RTP over veth $if_tx/$if_rx at $media_rates packets/s"
    mcap="$data/media-$media_calls.pcap"
    if [ ! -f "$mcap" ] || [ "$root/scripts/bench/media_capture.py" -nt "$mcap" ]; then
        "$PY" "$root/scripts/bench/media_capture.py" "$mcap.tmp" --calls "$media_calls" \
            --meta "$mcap.json" >/dev/null
        mv "$mcap.tmp" "$mcap"
    fi
    runner "$PY" "$root/scripts/bench/media.py" --bin "$bin" --capture "$mcap" --meta "$mcap.json" \
        --tx-ns "$ns_tx" --tx-if "$if_tx" --rx-ns "$ns_rx" --rx-if "$if_rx" --rates "$media_rates" \
        --buffer-mb "${buffer_mb:-32}" --workdir "$work"
fi
