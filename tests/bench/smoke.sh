#!/usr/bin/env bash
# Keeps the benchmark's parts honest in CI (no timing: that is scripts/bench.sh).
# 1. replicate.py is deterministic and gives every call its own Call-ID;
# 2. hepagent -r on the replicated UDP and TCP captures delivers exactly the
#    SIP messages the replicator says are there, with that many distinct
#    Call-IDs, to bench_sink (which decodes every HEP packet);
# 3. bench_floor sends one datagram per record.
# Usage: tests/bench/smoke.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
PY=$(command -v /usr/bin/python3 python3 | head -n 1)
work=$(mktemp -d /tmp/hepagent-benchsmoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
calls=300

# meta FILE KEY: a number from replicate.py's JSON
meta() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# sink MODE EXPECT TRANSPORT: starts bench_sink, sets SINK_PID, SINK_PORT
sink() {
    local flag=-u
    [ "$3" = tcp ] && flag=-t
    "$build/tests/bench_sink" "$flag" 0 -m "$1" -n "$2" -C -i 3000 -T 30000 \
        -p "$work/port" >"$work/sink.out" 2>"$work/sink.err" &
    SINK_PID=$!
    for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
    [ -s "$work/port" ] || fail "bench_sink did not start: $(cat "$work/sink.err")"
    local u tp
    read -r u tp <"$work/port"
    SINK_PORT=$u
    [ "$3" = tcp ] && SINK_PORT=$tp
    rm -f "$work/port"
}
# sink_wait: until bench_sink has counted what it expected (or gave up)
sink_wait() {
    local rc=0
    wait "$SINK_PID" || rc=$?
    [ "$rc" = 0 ] || fail "bench_sink exited $rc: $(cat "$work/sink.err")"
}
# summary KEY: a value of bench_sink's summary line
summary() {
    grep '^bench_sink ' "$work/sink.out" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

for t in udp tcp; do
    "$PY" "$repo/scripts/bench/replicate.py" "$here/sipp_$t.pcap" "$work/$t.pcap" \
        --calls "$calls" --meta "$work/$t.json" >/dev/null
    "$PY" "$repo/scripts/bench/replicate.py" "$here/sipp_$t.pcap" "$work/$t-again.pcap" \
        --calls "$calls" --meta "$work/$t-again.json" >/dev/null
    cmp -s "$work/$t.pcap" "$work/$t-again.pcap" || fail "replicate.py ($t) is not deterministic"
    msgs=$(meta "$work/$t.json" sip_messages)
    records=$(meta "$work/$t.json" records)
    [ "$(meta "$work/$t.json" calls)" -ge "$calls" ] || fail "replicate.py made fewer than $calls calls"

    for coll in udp tcp; do
        sink hep "$msgs" "$coll"
        "$build/hepagent" -c "$repo/conf/hepagent.json" -r "$work/$t.pcap" \
            -H "$coll://127.0.0.1:$SINK_PORT" -q 2>"$work/agent.err" ||
            fail "hepagent ($t capture -> $coll) exited $?: $(cat "$work/agent.err")"
        sink_wait
        got=$(summary packets)
        ids=$(summary callids)
        bad=$(summary invalid)
        echo "$t capture -> $coll: $got/$msgs HEP packets, $ids distinct Call-IDs, $bad invalid"
        [ "$got" = "$msgs" ] || fail "$t -> $coll: $got HEP packets, expected $msgs"
        [ "$ids" = "$(meta "$work/$t.json" calls)" ] || fail "$t -> $coll: $ids Call-IDs"
        [ "${bad:-0}" = 0 ] || fail "$t -> $coll: $bad invalid packets"
    done

    sink raw "$records" udp
    "$build/tests/bench_floor" -r "$work/$t.pcap" -p "$SINK_PORT" >/dev/null ||
        fail "bench_floor ($t) exited $?"
    sink_wait
    got=$(summary packets)
    echo "$t capture: floor sent $got/$records records"
    [ "$got" = "$records" ] || fail "floor: $got datagrams, expected $records"
done
echo "PASS"
