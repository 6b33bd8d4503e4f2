#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# Live capture on loopback with real SIP traffic from SIPp.
#
# hepagent captures "lo" with rules for the SIPp ports only. A SIPp UAS and
# UAC place exactly 20 calls over UDP, then 20 more over TCP (-t t1), with
# SIPp's message trace on (-trace_msg), so the test knows every SIP message
# that was on the wire. After SIGTERM the sink must hold every message SIPp
# sent exactly once, byte-identical, with the right ports, IP protocol
# (17/6), Call-ID (correlation id), capture id, and nothing else.
#
# Needs: sipp (Debian package sip-tester), python3, ss (iproute2), bc.

CALLS=20
RATE=10

command -v sipp >/dev/null || fail "sipp not found (Debian package: sip-tester)"

# run_calls NAME SIPP_TRANSPORT UAS_PORT UAC_PORT MEDIA_UAS MEDIA_UAC
# Runs a UAS (exits after CALLS calls) and a UAC placing CALLS calls; traces
# go to $WORK/NAME.uas.msg and $WORK/NAME.uac.msg.
run_calls() {
    local name=$1 tr=$2 pa=$3 pb=$4 ma=$5 mb=$6 uas_pid uac_rc=0
    local common=(-t "$tr" -i 127.0.0.1 -nostdin -trace_msg -trace_err -m "$CALLS")
    (cd "$WORK" && exec timeout 30 sipp -sn uas "${common[@]}" -p "$pa" -mp "$ma" \
        -message_file "$name.uas.msg" -error_file "$name.uas.err" \
        </dev/null >"$name.uas.out" 2>&1) &
    uas_pid=$!
    E2E_PIDS+=("$uas_pid")
    # the UAS is ready when its port is bound
    local i
    for ((i = 0; i < 100; i++)); do
        if [ "$tr" = t1 ]; then
            ss -Hltn "sport = :$pa" | grep -q . && break
        else
            ss -Hlun "sport = :$pa" | grep -q . && break
        fi
        kill -0 "$uas_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$uas_pid" 2>/dev/null || { cat "$WORK/$name.uas.out" >&2; fail "$name: SIPp UAS did not start"; }
    ((i < 100)) || fail "$name: SIPp UAS did not bind port $pa within 5 s"

    (cd "$WORK" && exec timeout 30 sipp -sn uac "127.0.0.1:$pa" "${common[@]}" -p "$pb" -mp "$mb" \
        -r "$RATE" -timeout 20s -timeout_error \
        -message_file "$name.uac.msg" -error_file "$name.uac.err" \
        </dev/null >"$name.uac.out" 2>&1) || uac_rc=$?
    if [ "$uac_rc" -ne 0 ]; then
        tail -n 40 "$WORK/$name.uac.out" >&2
        cat "$WORK/$name.uac.err" >&2 2>/dev/null || true
        fail "$name: SIPp UAC exited with status $uac_rc (not all $CALLS calls succeeded)"
    fi
    # the UAS leaves after its CALLS-th call (plus its final timewait)
    wait_exit "$uas_pid" 15 || fail "$name: SIPp UAS still running 15 s after the UAC finished"
    # Over TCP the UAC closes its connection as soon as its last call ends, while
    # the UAS's last call still sits in the scenario's final 4 s pause: SIPp
    # aborts that call and the UAS exits 1. All messages were exchanged by then
    # (the UAC exited 0, and the traces are compared below), so 1 is accepted.
    if ! { [ "$WAIT_RC" -eq 0 ] || { [ "$tr" = t1 ] && [ "$WAIT_RC" -eq 1 ]; }; }; then
        tail -n 40 "$WORK/$name.uas.out" >&2
        fail "$name: SIPp UAS exited with status $WAIT_RC"
    fi
}

# ---- setup ---------------------------------------------------------------

read -r UDP_A UDP_B TCP_A TCP_B MEDIA_BASE <<<"$(pick_ports 5)"
# media ports: each SIPp binds a few from its base; keep them apart
MEDIA_1=$MEDIA_BASE
MEDIA_2=$(((MEDIA_BASE + 10 - 20000) % 12000 + 20000))
note "ports: UDP UAS $UDP_A / UAC $UDP_B, TCP UAS $TCP_A / UAC $TCP_B, media $MEDIA_1,$MEDIA_2"

start_sink live -u 0
note "sink on udp/$SINK_UDP_PORT"

CFG=$WORK/live.json
cat >"$CFG" <<EOF
/* written by tests/e2e/live_sipp.sh */
{
    "agent": { "capture_id": 4242, "log_level": "info", "shutdown_timeout_ms": 5000 },
    "capture": [ { "interface": "lo", "bpf": "", "snaplen": 262144 } ],
    "rules": [
        { "name": "sipp-udp", "ports": [$UDP_A, $UDP_B], "transport": ["udp"], "action": "send" },
        { "name": "sipp-tcp", "ports": [$TCP_A, "$TCP_B-$TCP_B"], "transport": ["tcp"],
          "capture_id": 4343, "action": "send" }
    ],
    "collectors": [ { "url": "udp://127.0.0.1:$SINK_UDP_PORT" } ]
}
EOF
"$HEPAGENT" -t -c "$CFG" >"$WORK/check.out" 2>&1 || { cat "$WORK/check.out" >&2; fail "hepagent -t rejects the test config"; }

T0=$(date +%s.%N)
"$HEPAGENT" -i lo -H "udp://127.0.0.1:$SINK_UDP_PORT" -c "$CFG" --stats 2>"$WORK/agent.log" &
AGENT_PID=$!
E2E_PIDS+=("$AGENT_PID")
for ((i = 0; i < 100; i++)); do
    grep -q "hepagent: info: capturing on" "$WORK/agent.log" && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log" >&2; fail "hepagent exited at start"; }
    sleep 0.05
done
((i < 100)) || { cat "$WORK/agent.log" >&2; fail "hepagent did not log 'capturing on' within 5 s"; }
note "hepagent $AGENT_PID capturing on lo"

# ---- traffic -------------------------------------------------------------

since() { printf '%.1f s' "$(echo "$(date +%s.%N) - $1" | bc)"; }
T=$(date +%s.%N)
run_calls udp u1 "$UDP_A" "$UDP_B" "$MEDIA_1" "$MEDIA_2"
note "UDP: $CALLS calls done ($(since "$T"))"
T=$(date +%s.%N)
run_calls tcp t1 "$TCP_A" "$TCP_B" "$MEDIA_1" "$MEDIA_2"
note "TCP: $CALLS calls done ($(since "$T"))"

# ---- stop hepagent, collect ----------------------------------------------

EXPECTED=$(grep -c " message sent (" "$WORK"/udp.*.msg "$WORK"/tcp.*.msg | awk -F: '{s += $2} END {print s}')
# the rules match only the SIPp ports, so the sink should see exactly EXPECTED
wait_for_lines "$WORK/live.jsonl" "$EXPECTED" 5 || true
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || { cat "$WORK/agent.log" >&2; fail "hepagent still running 10 s after SIGTERM"; }
AGENT_RC=$WAIT_RC
AGENT_PID=
stop_sink
[ "$AGENT_RC" -eq 0 ] || { cat "$WORK/agent.log" >&2; fail "hepagent exited with status $AGENT_RC after SIGTERM (want 0)"; }
grep -E "^(frames|sip_messages|rules_sent|rules_unmatched|rules_dropped|sip_incomplete|sip_invalid|collector.*(sent|dropped|lost))" \
    "$WORK/agent.log" | sed 's/^/   agent: /' || true

# ---- compare ---------------------------------------------------------------

cat >"$WORK/compare.py" <<'PY'
import collections, json, re, sys

work, calls = sys.argv[1], int(sys.argv[2])
udp_a, udp_b, tcp_a, tcp_b = map(int, sys.argv[3:7])
errors = []

SENT = re.compile(rb"(UDP|TCP) message sent \((\d+) bytes\):\n\n")
RECV = re.compile(rb"(UDP|TCP) message received \[(\d+)\] bytes :\n\n")

def trace(path, rx):
    """Messages of one kind in a SIPp -trace_msg file, cut by their byte count."""
    data = open(path, "rb").read()
    out = []
    for m in rx.finditer(data):
        n = int(m.group(2))
        body = data[m.end():m.end() + n]
        if len(body) != n:
            errors.append(f"{path}: message at byte {m.start()} is cut short")
        out.append(body)
    return out

def call_id(payload):
    m = re.search(rb"\r?\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]*)", payload, re.I)
    return m.group(1).strip().decode() if m else None

def first_line(p):
    return p.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode(errors="replace")

# expected[(proto, sport, dport, payload)] = count
expected = collections.Counter()
phases = (("udp", 17, udp_a, udp_b, 4242), ("tcp", 6, tcp_a, tcp_b, 4343))
for name, proto, pa, pb, capid in phases:
    uac_sent = trace(f"{work}/{name}.uac.msg", SENT)
    uas_sent = trace(f"{work}/{name}.uas.msg", SENT)
    uac_recv = trace(f"{work}/{name}.uac.msg", RECV)
    uas_recv = trace(f"{work}/{name}.uas.msg", RECV)
    # sanity: what one side sent is what the other received
    if collections.Counter(uac_sent) != collections.Counter(uas_recv):
        errors.append(f"{name}: SIPp traces disagree: UAC sent {len(uac_sent)}, UAS received {len(uas_recv)}")
    if collections.Counter(uas_sent) != collections.Counter(uac_recv):
        errors.append(f"{name}: SIPp traces disagree: UAS sent {len(uas_sent)}, UAC received {len(uac_recv)}")
    ids = collections.Counter(call_id(p) for p in uac_sent + uas_sent)
    if len(ids) != calls or None in ids:
        errors.append(f"{name}: SIPp traces hold {len(ids)} Call-IDs, want {calls}")
    print(f"   {name}: SIPp sent {len(uac_sent)} (UAC) + {len(uas_sent)} (UAS) messages, {len(ids)} calls")
    for p in uac_sent:
        expected[(proto, pb, pa, p)] += 1
    for p in uas_sent:
        expected[(proto, pa, pb, p)] += 1

capid_of = {17: 4242, 6: 4343}
got = collections.Counter()
lines = 0
for n, line in enumerate(open(f"{work}/live.jsonl"), 1):
    lines += 1
    r = json.loads(line)
    if "error" in r:
        errors.append(f"sink line {n}: invalid HEP packet: {r['error']}")
        continue
    payload = bytes.fromhex(r["payload"])
    where = f"sink line {n} ({r['proto']} {r['sport']}->{r['dport']} {first_line(payload)!r})"
    checks = [
        ("transport", r["transport"], "udp"), ("family", r["family"], 4),  # the sink prints the IP version (HEP family 2)
        ("src", r["src"], "127.0.0.1"), ("dst", r["dst"], "127.0.0.1"),
        ("ptype", r["ptype"], 1), ("capid", r["capid"], capid_of.get(r["proto"])),
        ("corr", r.get("corr"), call_id(payload)),
    ]
    for field, have, want in checks:
        if have != want:
            errors.append(f"{where}: {field} is {have!r}, want {want!r}")
    if r["sec"] == 0:
        errors.append(f"{where}: timestamp is 0")
    got[(r["proto"], r["sport"], r["dport"], payload)] += 1

def describe(key):
    proto, sp, dp, p = key
    return f"proto {proto} {sp}->{dp} {first_line(p)!r} Call-ID {call_id(p)}"

missing = expected - got
extra = got - expected
dups = [k for k, c in got.items() if k in expected and c > expected[k]]
for k, c in missing.items():
    errors.append(f"missing at the sink ({c}x): {describe(k)}")
for k, c in extra.items():
    kind = "duplicated" if k in expected else "unexpected (not sent by SIPp, or altered)"
    errors.append(f"{kind} at the sink ({c}x extra): {describe(k)}")
print(f"   sink: {lines} HEP packets; expected {sum(expected.values())}; "
      f"missing {sum(missing.values())}, extra {sum(extra.values())}")
for e in errors[:40]:
    print("   " + e, file=sys.stderr)
if len(errors) > 40:
    print(f"   ... and {len(errors) - 40} more", file=sys.stderr)
sys.exit(1 if errors else 0)
PY

"$PYTHON" "$WORK/compare.py" "$WORK" "$CALLS" "$UDP_A" "$UDP_B" "$TCP_A" "$TCP_B" ||
    fail "the sink does not hold exactly the SIP messages SIPp put on the wire (see above; E2E_KEEP=1 keeps $WORK)"

# the agent's own count must agree with what arrived
SENT_RULES=$(awk '$1 == "rules_sent" {print $2}' "$WORK/agent.log")
[ "$SENT_RULES" = "$EXPECTED" ] || fail "hepagent counted rules_sent=$SENT_RULES, want $EXPECTED"

note "PASS: $EXPECTED SIP messages (UDP+TCP, $CALLS calls each) arrived once and intact ($(since "$T0"))"
