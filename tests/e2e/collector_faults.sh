#!/usr/bin/env bash
# Collectors that misbehave, with SIP generated on loopback and captured live:
#  a. a collector that accepts and never reads (hep_sink -S): capture goes on,
#     memory stays flat, what cannot go is counted as dropped; in failover mode
#     with a small queue (256 KB, 0.7 s of traffic) the stall is seen when
#     the queue is full (the collector's window closed, nothing acknowledged
#     for 0.2 s, SENDER_CLOGGED_MS): what it did not acknowledge is handed to
#     the next collector, which gets it and all that follows, once, in order,
#     nothing dropped; the stalled one gets traffic again only after a
#     hold-down (5 s, then 10 s, 20 s...), not every second;
#  b. a collector that closes its connections after a random 1..40 packets
#     (hep_sink -C 40 -R SEED): every message arrives exactly once;
#     one that does so abruptly, discarding what it has not read, with a
#     small receive buffer so bursts stay unacknowledged (-A -B 4096): what
#     its TCP acknowledged and it threw away is lost (TCP-level delivery
#     cannot know), and must be exactly that (discarded bytes); what was
#     not acknowledged goes again, and nothing acknowledged does (so there
#     are next to no duplicates);
#  c. hash mode over three collectors: each call (seven messages) arrives
#     whole at one collector; when one stops, only its calls move and each to
#     one other; when it is back, every call goes where it went at first;
#  d. failover order: the first collector down -> the second gets all; the
#     first back -> it gets all; the first stopped again -> the second;
#  e. hash mode over three collectors with small queues (256 KB) and receive
#     buffers, one of them taking compressed payloads: the same calls three
#     times; during the second time one collector stops reading (SIGSTOP).
#     What it queued goes, per Call-ID, to the collector the rendezvous hash
#     picks among the others, where the rest of those calls go too, encoded
#     as that one wants: every message once, each call in order at each
#     collector, nothing dropped. It reads again (SIGCONT), is taken back
#     after the hold-down, and the third time every call is where it was at
#     first (handed-over packets are not handed back).
# (a) and (b) run side by side: four hepagents capture the same messages.
source "$(dirname "$0")/lib.sh" "$@"
source "$E2E_DIR/delivery_lib.sh"

T0=$(date +%s)
read -r GEN_AB GEN_C1 GEN_C2 GEN_C3 GEN_D1 GEN_D2 GEN_D3 <<<"$(pick_ports 7)"
read -r P_STALL P_STALL2 P_GOOD P_CLOSE P_CRASH P_H1 P_H2 P_H3 P_F1 P_F2 <<<"$(pick_ports 10)"
read -r GEN_E1 GEN_E2 GEN_E3 P_E1 P_E2 P_E3 <<<"$(pick_ports 6)"
tcp() { echo "tcp://127.0.0.1:$1"; }

# ---- a, b: stall and random closes ----------------------------------------

RATE=1000
SECONDS_AB=12
N=$((RATE * SECONDS_AB))
SEED=${SEED:-$RANDOM}
sink_start stall "$P_STALL" -S
sink_start stall2 "$P_STALL2" -S
sink_start good "$P_GOOD"
sink_start close "$P_CLOSE" -C 40 -R "$SEED"
sink_start crash "$P_CRASH" -C 40 -R "$SEED" -A -B 4096
FAST='"reconnect_min_ms": 10, "reconnect_max_ms": 100'
AGENT_SHUTDOWN_MS=2000 agent_config "$WORK/stall.json" "$GEN_AB" \
    "[{\"url\": \"$(tcp "$P_STALL")\", \"queue_kb\": 256}]" "{$FAST}"
AGENT_SHUTDOWN_MS=2000 agent_config "$WORK/failover.json" "$GEN_AB" \
    "[{\"url\": \"$(tcp "$P_STALL2")\", \"queue_kb\": 256}, {\"url\": \"$(tcp "$P_GOOD")\"}]" \
    "{\"mode\": \"failover\", $FAST}"
agent_config "$WORK/close.json" "$GEN_AB" "[{\"url\": \"$(tcp "$P_CLOSE")\"}]" "{$FAST}"
agent_config "$WORK/crash.json" "$GEN_AB" "[{\"url\": \"$(tcp "$P_CRASH")\"}]" "{$FAST}"
for a in stall failover close crash; do agent_start "$a" "$WORK/$a.json"; done
AB_START=$SECONDS
wait_log stall "connected" 1 5
wait_log failover "connected" 2 5
wait_log close "connected" 1 5
wait_log crash "connected" 1 5
note "a/b: $N messages at $RATE/s; stalled tcp/$P_STALL, failover tcp/$P_STALL2 -> tcp/$P_GOOD, closing tcp/$P_CLOSE, crashing tcp/$P_CRASH (seed $SEED)"

"$PYTHON" "$SIPGEN" "$GEN_AB" ab "$N" "$RATE" >"$WORK/gen_ab.out" &
GEN_PID=$!
declare -A RSS=([stall]="" [failover]="")
for ((s = 1; s <= SECONDS_AB + 5; s++)); do
    sleep 1
    for a in stall failover; do
        pid=$(agent_pid "$a")
        kill -0 "$pid" 2>/dev/null || { tail "$WORK/$a.log" >&2; fail "hepagent $a died"; }
        RSS[$a]+="$(rss_kb "$pid") "
    done
    kill -0 "$GEN_PID" 2>/dev/null || break
done
wait_exit "$GEN_PID" 10 || fail "the SIP generator did not finish"
[ "$(cat "$WORK/gen_ab.out")" = "$N" ] || fail "the generator sent $(cat "$WORK/gen_ab.out"), want $N"
wait_sink_lines "$N" 20 close
# the crashing one loses what it discards: wait until its agent's queue is empty
for ((i = 0; i < 100; i++)); do
    [ "$(live_stat crash "collector[$(tcp "$P_CRASH")].sent")" = "$N" ] && break
    sleep 0.1
done
# a collector that never reads must not hold the agent beyond shutdown_timeout_ms
t=$(date +%s%N)
agent_stop stall 6
agent_stop failover 6
AB_LIFE=$((SECONDS - AB_START + 1))
note "a: both agents with a stalled collector stopped in $((($(date +%s%N) - t) / 1000000)) ms (shutdown_timeout_ms 2000 each)"
agent_stop close
agent_stop crash
sink_stop stall stall2 good close crash

for a in stall failover; do
    read -r min max at3 <<<"$(echo "${RSS[$a]}" | tr ' ' '\n' | awk 'NF {
        if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1; if (NR == 3) at3 = $1 }
        END { print min, max, at3 }')"
    note "a: $a RSS (KB, 1/s): ${RSS[$a]}"
    note "a: $a RSS min $min KB, max $max KB, growth after 3 s $((max - at3)) KB (bound 4096)"
    ((max - at3 <= 4096)) || fail "$a: RSS grew by $((max - at3)) KB with a stalled collector"
    got=$(counter "$a" rules_sent)
    [ "$got" = "$N" ] || fail "$a: captured $got of $N messages: capture was held up"
done
[ "$(callids $(sink_files stall) $(sink_files stall2) | cut -d' ' -f1)" = 0 ] || fail "a stalled sink read something"

# a1: the only collector stalls: everything queued is delivered (to the
# kernel's buffers) or counted as dropped
C="collector[$(tcp "$P_STALL")]"
sent=$(counter stall "$C.sent")
full=$(counter stall "$C.dropped_queue_full")
shut=$(counter stall "$C.dropped_shutdown")
note "a: stalled collector: queued $(counter stall "$C.queued"), sent (acknowledged by its kernel) $sent, dropped $full (queue full) + $shut (shutdown)"
((full > 0)) || fail "a: nothing dropped: the stalled collector's queue never filled"
((sent + full + shut == N)) || fail "a: sent $sent + dropped $((full + shut)) != $N"

# a2: failover hands what the stalled collector did not acknowledge to the
# next, drops nothing, and leaves the stalled one alone for its hold-down
C="collector[$(tcp "$P_STALL2")]"
read -r pkts distinct dups late <<<"$(callids $(sink_files good))"
sent=$(counter failover "$C.sent")
full=$(counter failover "$C.dropped_queue_full")
shut=$(counter failover "$C.dropped_shutdown")
handed=$(counter failover "$C.handed_over")
connects=$(counter failover "$C.connects")
note "a: failover: the stalled first collector's TCP acknowledged $sent, $handed handed over, dropped $full + $shut, $connects connections; the second got $distinct ($dups duplicates, $late out of order)"
((full == 0 && shut == 0)) || fail "a: failover: $full + $shut dropped"
((handed > 0)) || fail "a: failover: nothing handed over"
((sent + distinct == N)) || fail "a: failover: $sent (acknowledged by the first) + $distinct (second) != $N"
((dups == 0 && late == 0)) || fail "a: failover: $dups duplicates, $late out of order"
# tries after hold-downs of 5, 10, 20... s fit in the agent's life; without
# them it would reconnect every second
most=1
for ((wait = 5, held = 5; held <= AB_LIFE; wait *= 2, held += wait)); do most=$((most + 1)); done
((connects <= most)) ||
    fail "a: failover: $connects connections to the stalled collector in $AB_LIFE s: no hold-down (at most $most)"

# b: random closes lose and duplicate nothing
C="collector[$(tcp "$P_CLOSE")]"
read -r pkts distinct dups late <<<"$(callids $(sink_files close))"
connects=$(counter close "$C.connects")
note "b: random closes: $distinct of $N delivered ($pkts packets, $dups duplicates, $late out of order); connects $connects, retransmitted $(counter close "$C.retransmitted"); sink: $(tail -n 1 "$WORK/close.sink.log")"
((connects > 10)) || fail "b: only $connects connections: the collector did not close them"
((distinct == N && dups == 0 && late == 0)) || fail "b: want each of $N Call-IDs once, in order"

C="collector[$(tcp "$P_CRASH")]"
read -r pkts distinct dups late <<<"$(callids $(sink_files crash))"
read -r min_size max_size <<<"$("$PYTHON" -c '
import json, sys
sizes = [json.loads(l)["size"] for f in sys.argv[1:] for l in open(f)]
print(min(sizes), max(sizes))' $(sink_files crash))"
sent=$(counter crash "$C.sent")
retrans=$(counter crash "$C.retransmitted")
read -r closes discarded <<<"$(sed -nE 's/.* ([0-9]+) closed by the sink, ([0-9]+) bytes discarded.*/\1 \2/p' "$WORK/crash.sink.log" | tail -n 1)"
lost=$((N - distinct))
note "b: abrupt closes: $distinct of $N delivered, $lost lost, $dups duplicates, $late out of order; the collector closed $closes times, discarding $discarded bytes unread; hepagent: sent $sent, connects $(counter crash "$C.connects"), retransmitted $retrans"
((sent == N)) || fail "b: abrupt: hepagent counted $sent of $N as acknowledged"
((late == 0)) || fail "b: abrupt: $late messages arrived after later ones"
((closes > 10)) || fail "b: abrupt: only $closes closes"
((lost * min_size <= discarded)) ||
    fail "b: abrupt: $lost messages lost, more than the $discarded bytes the collector discarded hold"
((discarded <= (lost + closes) * max_size)) ||
    fail "b: abrupt: the collector discarded $discarded bytes, but only $lost messages (+ a partial one per close) are missing"
# A duplicate would be a packet the collector read before its kernel's
# acknowledgement reached hepagent: possible, rare (none seen in our runs).
# Resending acknowledged packets after a reset gave 17-28 per run, once a
# storm of 5455; allow at most one per 50 closes.
((dups <= retrans && dups * 50 <= closes)) ||
    fail "b: abrupt: $dups duplicates ($retrans packets sent again, $closes closes)"

# ---- c: hash mode ------------------------------------------------------------

CALLS=150
PHASE=$((CALLS * 7))
sink_start h1 "$P_H1"
sink_start h2 "$P_H2"
sink_start h3 "$P_H3"
agent_config "$WORK/hash.json" "$GEN_C1 $GEN_C2 $GEN_C3" \
    "[{\"url\": \"$(tcp "$P_H1")\"}, {\"url\": \"$(tcp "$P_H2")\"}, {\"url\": \"$(tcp "$P_H3")\"}]" \
    '{"mode": "hash", "reconnect_min_ms": 50, "reconnect_max_ms": 200}'
agent_start hash "$WORK/hash.json"
wait_log hash "connected" 3 5
# the same calls (Call-IDs) in each phase, told apart by the port they went to
"$PYTHON" "$SIPGEN" "$GEN_C1" call "$CALLS" 2000 --calls >/dev/null
wait_sink_lines "$PHASE" 10 h1 h2 h3
sink_stop h2
wait_log hash "$P_H2: connection: closed by the collector" 1 5
"$PYTHON" "$SIPGEN" "$GEN_C2" call "$CALLS" 2000 --calls >/dev/null
wait_sink_lines $((2 * PHASE)) 10 h1 h2 h3
sink_start h2 "$P_H2"
wait_log hash "$P_H2: connected" 2 5
"$PYTHON" "$SIPGEN" "$GEN_C3" call "$CALLS" 2000 --calls >/dev/null
wait_sink_lines $((3 * PHASE)) 10 h1 h2 h3
agent_stop hash
sink_stop h1 h2 h3
"$PYTHON" - "$GEN_C1" "$GEN_C2" "$GEN_C3" "$CALLS" "$WORK" <<'PY' || fail "c: hash mode"
import collections, glob, json, sys
ports, calls, work = [int(p) for p in sys.argv[1:4]], int(sys.argv[4]), sys.argv[5]
where = {p: collections.defaultdict(collections.Counter) for p in ports}  # port -> call -> sink
for sink in ("h1", "h2", "h3"):
    for path in glob.glob(f"{work}/{sink}.*.jsonl"):
        for line in open(path):
            m = json.loads(line)
            where[m["dport"]][m["corr"]][sink] += 1
bad = []
owner = {}
for phase, port in enumerate(ports, 1):
    owner[phase] = {}
    for n in range(calls):
        got = where[port].get(f"call-{n}", {})
        if len(got) != 1 or list(got.values()) != [7]:
            bad.append(f"phase {phase}: call-{n} at {dict(got)}, want 7 messages at one collector")
        elif got:
            owner[phase][f"call-{n}"] = next(iter(got))
    share = collections.Counter(owner[phase].values())
    print(f"== c: phase {phase}: calls per collector {dict(sorted(share.items()))}")
one, two, three = owner[1], owner[2], owner[3]
if min(collections.Counter(one.values()).get(s, 0) for s in ("h1", "h2", "h3")) < calls // 10:
    bad.append("phase 1: a collector got less than a tenth of the calls")
if "h2" in two.values():
    bad.append("phase 2: the stopped collector h2 got calls")
moved = collections.Counter(two[c] for c in one if one[c] == "h2" and c in two)
stayed = sum(1 for c in one if one[c] != "h2" and two.get(c) == one[c])
print(f"== c: h2's {sum(moved.values())} calls moved to {dict(moved)}; "
      f"{stayed} of {sum(1 for c in one if one[c] != 'h2')} others stayed where they were")
if stayed != sum(1 for c in one if one[c] != "h2"):
    bad.append("phase 2: calls of the running collectors moved")
if len(moved) != 2:
    bad.append("phase 2: h2's calls did not spread over h1 and h3")
if three != one:
    bad.append(f"phase 3: {sum(1 for c in one if three.get(c) != one[c])} calls not back where they were in phase 1")
for b in bad[:10]:
    print("   " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# ---- d: failover order ---------------------------------------------------------

MSGS=300
sink_start f2 "$P_F2"
agent_config "$WORK/order.json" "$GEN_D1 $GEN_D2 $GEN_D3" \
    "[{\"url\": \"$(tcp "$P_F1")\"}, {\"url\": \"$(tcp "$P_F2")\"}]" \
    '{"mode": "failover", "reconnect_min_ms": 50, "reconnect_max_ms": 200}'
agent_start order "$WORK/order.json"
wait_log order "$P_F2: connected" 1 5
# phase_to PHASE PORT SINK: MSGS OPTIONS; every one must arrive at SINK, once
phase_to() {
    local before
    before=$(sink_lines f1 f2)
    "$PYTHON" "$SIPGEN" "$2" "$1" "$MSGS" 2000 >/dev/null
    wait_sink_lines $((before + MSGS)) 10 f1 f2
    sleep 0.2 # a message that went to the wrong sink would be there by now
    local at_sink other
    at_sink=$(cat /dev/null $(sink_files "$3") | grep -c "\"corr\":\"$1-" || true)
    other=$(cat /dev/null $(sink_files f1) $(sink_files f2) | grep -c "\"corr\":\"$1-" || true)
    note "d: $1: $at_sink of $MSGS at $3, $((other - at_sink)) elsewhere"
    ((at_sink == MSGS && other == MSGS)) || fail "d: $1: want all $MSGS at $3 only, once"
}
phase_to first_down "$GEN_D1" f2
sink_start f1 "$P_F1"
wait_log order "$P_F1: connected" 1 5
phase_to first_back "$GEN_D2" f1
sink_stop f1
wait_log order "$P_F1: connection: closed by the collector" 1 5
phase_to first_gone "$GEN_D3" f2
agent_stop order
sink_stop f2

# ---- e: hash mode hands a stalled collector's queue over per Call-ID -----------

CALLS=300
PHASE=$((CALLS * 7))
for e in e1 e2 e3; do
    port=P_${e^^}
    sink_start "$e" "${!port}" -B 4096
done
agent_config "$WORK/hash_stall.json" "$GEN_E1 $GEN_E2 $GEN_E3" \
    "[{\"url\": \"$(tcp "$P_E1")\", \"queue_kb\": 256, \"compress\": true, \"compress_min_bytes\": 0},
      {\"url\": \"$(tcp "$P_E2")\", \"queue_kb\": 256},
      {\"url\": \"$(tcp "$P_E3")\", \"queue_kb\": 256}]" \
    '{"mode": "hash", "reconnect_min_ms": 50, "reconnect_max_ms": 200}'
agent_start ehash "$WORK/hash_stall.json"
wait_log ehash "connected" 3 5
# delivered: until the sinks hold all the agent captured (a busy machine
# can make the kernel drop a frame before the agent sees it: not sent, not
# counted here, in kernel_dropped)
delivered() {
    local captured i same=0
    for ((i = 0; i < 100; i++)); do
        captured=$(live_stat ehash rules_sent)
        if [ "$(sink_lines e1 e2 e3)" = "$captured" ]; then
            ((++same == 2)) && return 0 # and nothing came since
        else
            same=0
        fi
        sleep 0.2
    done
    fail "e: the sinks hold $(sink_lines e1 e2 e3) packets, the agent captured $captured"
}
"$PYTHON" "$SIPGEN" "$GEN_E1" call "$CALLS" 2000 --calls >/dev/null
delivered
kill -STOP "${SINK_PIDS[e2]}"
"$PYTHON" "$SIPGEN" "$GEN_E2" call "$CALLS" 2000 --calls >/dev/null
wait_log ehash "$P_E2: [0-9]+ queued packets handed over" 1 10
kill -CONT "${SINK_PIDS[e2]}"
delivered
wait_log ehash "$P_E2: connected" 2 15 # after the hold-down
"$PYTHON" "$SIPGEN" "$GEN_E3" call "$CALLS" 2000 --calls >/dev/null
delivered
agent_stop ehash
sink_stop e1 e2 e3
CAPTURED=$(counter ehash rules_sent)
note "e: captured $CAPTURED of $((3 * PHASE)) (kernel_dropped $(counter ehash "interface[lo].kernel_dropped"))"
for e in e1 e2 e3; do
    port=P_${e^^}
    C="collector[$(tcp "${!port}")]"
    full=$(counter ehash "$C.dropped_queue_full")
    ((full == 0)) || fail "e: $e dropped $full (queue full)"
done
handed=$(counter ehash "collector[$(tcp "$P_E2")].handed_over")
note "e: the stalled collector handed over $handed packets"
((handed > 0)) || fail "e: nothing handed over"
"$PYTHON" - "$GEN_E1" "$GEN_E2" "$GEN_E3" "$CALLS" "$WORK" "$CAPTURED" <<'PY' || fail "e: hash mode handover"
import collections, glob, json, sys
ports, calls, work = [int(p) for p in sys.argv[1:4]], int(sys.argv[4]), sys.argv[5]
captured = int(sys.argv[6])

def index(payload):
    """A call's message number, 0..6, from its first line and CSeq."""
    text = bytes.fromhex(payload).decode("latin-1")
    first = text.split("\r\n", 1)[0]
    cseq = next(l for l in text.split("\r\n") if l.startswith("CSeq:"))
    for n, start in enumerate(("INVITE", "SIP/2.0 100", "SIP/2.0 180")):
        if first.startswith(start):
            return n
    if first.startswith("ACK"):
        return 4
    if first.startswith("BYE"):
        return 5
    return 3 if "INVITE" in cseq else 6

got = {p: collections.defaultdict(list) for p in ports}  # port -> call -> [(sink, index)] in arrival order per sink
bad = []
for sink in ("e1", "e2", "e3"):
    for path in sorted(glob.glob(f"{work}/{sink}.*.jsonl")):
        for line in open(path):
            m = json.loads(line)
            got[m["dport"]][m["corr"]].append((sink, index(m["payload"])))
            if m["compressed"] != (sink == "e1"):  # e1 alone takes compressed payloads
                bad.append(f"{sink}: {m['corr']} compressed {m['compressed']}")
owner = {}
for phase, port in enumerate(ports, 1):
    owner[phase] = {}
    for n in range(calls):
        msgs = got[port].get(f"call-{n}", [])
        indexes = sorted(i for _, i in msgs)
        if len(set(indexes)) != len(indexes):
            bad.append(f"phase {phase}: call-{n}: messages {indexes}, want each of 0..6 once")
            continue
        if not msgs:
            continue
        for sink in ("e1", "e2", "e3"):
            mine = [i for s, i in msgs if s == sink]
            if mine != sorted(mine):
                bad.append(f"phase {phase}: call-{n} out of order at {sink}: {mine}")
        owner[phase][f"call-{n}"] = [s for s, _ in sorted(msgs, key=lambda m: m[1])]
total = sum(len(m) for p in ports for m in got[p].values())
if total != captured:
    bad.append(f"{total} messages at the collectors, the agent captured {captured}")
one = {c: s[0] for c, s in owner[1].items() if len(set(s)) == 1}
if len(one) != len(owner[1]):
    bad.append(f"phase 1: {len(owner[1]) - len(one)} calls not whole at one collector")
three = {c: s[0] for c, s in owner[3].items() if len(set(s)) == 1}
back = sum(1 for c in one if c in three and three[c] != one[c])
if back or len(three) != len(owner[3]):
    bad.append(f"phase 3: {back} calls not back where they were at first")
moved = collections.Counter()
split = 0
for c, sinks in owner[2].items():
    if c not in one:
        continue
    if one[c] != "e2":
        if set(sinks) != {one.get(c)}:
            bad.append(f"phase 2: {c} of {one[c]} went to {sinks}")
        continue
    # e2's call: what e2 acknowledged before it was seen stalled, then one other collector
    rest = [s for s in sinks if s != "e2"]
    k = len(sinks) - len(rest)
    if sinks[:k] != ["e2"] * k or len(set(rest)) > 1:
        bad.append(f"phase 2: {c} of e2 went to {sinks}, want e2 first, then one other")
    if rest:
        moved[rest[0]] += 1
    if k and rest:
        split += 1
print(f"== e: phase 2: e2's calls went on at {dict(moved)}; {split} began at e2 and went on elsewhere")
if len(moved) != 2:
    bad.append("phase 2: e2's calls did not spread over e1 and e3")
for b in bad[:10]:
    print("   " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
note "PASS collector faults ($(($(date +%s) - T0)) s)"
