#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end: hepagent as a HEP relay between real senders and real receivers.
#
#   hepagent -r A.pcap  --UDP-->  +-----------+            +--> hep_sink (strict decoder)
#   hepagent -r B.pcap  --TCP-->  |  relay R1 | --UDP----> |
#   sngrep -I C.pcap -H --UDP-->  +-----------+            +--> relay R2 --> hep-js (npm)
#   malformed corpus, UDP+TCP ->        ^                              \--> sngrep -L
#   a slow-loris TCP client ---->       |                               \-> R1 (a loop)
#                                       +-- R2 sends back to R1: dropped as a loop
#
# Checked: every message the two agents queued (their --hep-pcap) reaches the
# sink exactly once with addresses, ports, time, type, capture id,
# correlation id and payload unchanged, plus exactly the messages sngrep sent;
# hep-js and sngrep -L, behind a second relay, decode the same packets (so
# they accept hepagent's relay-path vendor chunk); R2's copies sent back to
# R1 are all dropped as loops; the malformed corpus is counted by reason at
# both inputs; the slow-loris client is closed by the frame timeout while the
# others are served.

for tool in sngrep tshark node ss; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian: sngrep tshark nodejs iproute2)"
done
HEPJS_DIR=$E2E_DIR/hepjs
node -e "require('$HEPJS_DIR/node_modules/hep-js')" 2>/dev/null ||
    (cd "$HEPJS_DIR" && timeout 240 npm ci --prefer-offline --no-audit --no-fund --ignore-scripts \
        --loglevel=error >"$WORK/npm.log" 2>&1) || fail "hep-js not installed (npm ci in $HEPJS_DIR)"
CHECK="$PYTHON $E2E_DIR/relay_check.py"
CAP_A=$CORPUS/udp/zeek_wireshark_sip.pcap
CAP_B=$CORPUS/tcp/sip_tcp_pattern.pcap
CAP_C=$CORPUS/udp/sip_body_frames.pcap
read -r P_R1U P_R1T P_SINK P_R2U P_SNGREP <<<"$(pick_ports 5)"

# ---- receivers ---------------------------------------------------------------
"$HEP_SINK" -u "$P_SINK" -o "$WORK/sink.jsonl" -T 120000 2>"$WORK/sink.err" &
E2E_PIDS+=($!)
SINK_PID=$!
timeout -k 2 120 node "$HEPJS_DIR/check.js" --port-file "$WORK/hepjs.port" \
    --out "$WORK/hepjs.jsonl" --timeout 110 </dev/null 2>"$WORK/hepjs.err" &
HEPJS_PID=$!
E2E_PIDS+=($HEPJS_PID)
TERM=dumb sngrep -N -q -F -L "udp:127.0.0.1:$P_SNGREP" -O "$WORK/sngrep.pcap" \
    </dev/null >"$WORK/sngrep.out" 2>&1 &
SNGREP_PID=$!
E2E_PIDS+=($SNGREP_PID)
wait_for_file "$WORK/hepjs.port" 10
read -r P_HEPJS <"$WORK/hepjs.port"

# ---- the relays ----------------------------------------------------------------
cat >"$WORK/r1.json" <<EOF
{ "capture": [],
  "inputs": [{"url": "udp://127.0.0.1:$P_R1U", "name": "agents-udp"},
             {"url": "tcp://127.0.0.1:$P_R1T", "name": "agents-tcp", "frame_timeout_ms": 2000,
              "max_connections": 64}],
  "rules": [{"name": "all"}],
  "collectors": [{"url": "udp://127.0.0.1:$P_SINK"}, {"url": "udp://127.0.0.1:$P_R2U"}] }
EOF
cat >"$WORK/r2.json" <<EOF
{ "capture": [],
  "inputs": [{"url": "udp://127.0.0.1:$P_R2U"}],
  "rules": [{"name": "all"}],
  "collectors": [{"url": "udp://127.0.0.1:$P_HEPJS"}, {"url": "udp://127.0.0.1:$P_SNGREP"},
                 {"url": "udp://127.0.0.1:$P_R1U"}] }
EOF
"$HEPAGENT" -c "$WORK/r2.json" --stats 2>"$WORK/r2.stats" &
R2_PID=$!
E2E_PIDS+=($R2_PID)
"$HEPAGENT" -c "$WORK/r1.json" --stats 2>"$WORK/r1.stats" &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
    [ -n "$(ss -Hltn "sport = :$P_R1T")" ] && [ -n "$(ss -Hlun "sport = :$P_R2U")" ] && break
    sleep 0.05
done

# ---- senders, all at once --------------------------------------------------
note "slow loris, malformed corpus, two hepagents and sngrep sending into R1"
$CHECK loris 127.0.0.1 "$P_R1T" 6 >"$WORK/loris.out" &
LORIS=$!
$CHECK corpus "$REPO/tests/hepin/malformed" 127.0.0.1 "$P_R1U" "$P_R1T" 2 >"$WORK/corpus.out" &
CORPUS_PID=$!
cat >"$WORK/agent.json" <<EOF
{ "rules": [{"name": "all"}], "collectors": [] }
EOF
"$HEPAGENT" -c "$WORK/agent.json" -r "$CAP_A" -H "udp://127.0.0.1:$P_R1U" \
    --hep-pcap "$WORK/a.hep.pcap" 2>"$WORK/a.log" &
A_PID=$!
"$HEPAGENT" -c "$WORK/agent.json" -r "$CAP_B" -H "tcp://127.0.0.1:$P_R1T" \
    --hep-pcap "$WORK/b.hep.pcap" 2>"$WORK/b.log" &
B_PID=$!
TERM=dumb timeout 30 sngrep -N -q -F -I "$CAP_C" -H "udp:127.0.0.1:$P_R1U" </dev/null \
    >"$WORK/sngrep-send.out" 2>&1 || fail "sngrep -H failed: $(cat "$WORK/sngrep-send.out")"
wait "$A_PID" || fail "agent A failed: $(cat "$WORK/a.log")"
wait "$B_PID" || fail "agent B failed: $(cat "$WORK/b.log")"
wait "$CORPUS_PID" || fail "corpus sender failed"
wait "$LORIS" || true
grep -q "closed by the relay" "$WORK/loris.out" || fail "the slow-loris client was not closed"
sleep 1

note "stopping the relays"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "R1 did not stop"
AGENT_PID=
# (in the sanitizer build a leak or an error makes this non-zero)
[ "$WAIT_RC" = 0 ] || fail "R1 exited $WAIT_RC: $(grep -v '^[a-z_.]*\[*' "$WORK/r1.stats" | tail -5)"
kill -TERM "$R2_PID"
wait_exit "$R2_PID" 10 || fail "R2 did not stop"
[ "$WAIT_RC" = 0 ] || fail "R2 exited $WAIT_RC: $(tail -5 "$WORK/r2.stats")"
sleep 0.5
kill -TERM "$SINK_PID" "$HEPJS_PID" "$SNGREP_PID" 2>/dev/null || true
wait_exit "$SINK_PID" 5 || true
wait_exit "$HEPJS_PID" 5 || true
wait_exit "$SNGREP_PID" 5 || true

# ---- checks ------------------------------------------------------------------
stat() { $CHECK stats "$1" "$2"; }
n_expect=$($CHECK expect "$WORK/expect.json" "$WORK/a.hep.pcap" "$WORK/b.hep.pcap")
n_sngrep=$(tshark -n -r "$CAP_C" -Y sip 2>/dev/null | wc -l)
[ "$n_expect" -gt 50 ] || fail "the agents queued only $n_expect packets"
ok_files=$(awk '$1 == "udp.ok" || $1 == "tcp.ok" {n += $2} END {print n + 0}' "$WORK/corpus.out")
$CHECK compare "$WORK/expect.json" "$WORK/sink.jsonl" --extra $((n_sngrep + ok_files)) ||
    fail "sink: see above"
n_sink=$(wc -l <"$WORK/sink.jsonl")
$CHECK hepjs "$WORK/hepjs.jsonl" "$WORK/sink.jsonl" || fail "hep-js: see above"
$CHECK sngrep "$WORK/sngrep.pcap" "$WORK/sink.jsonl" || fail "sngrep -L: see above"

r2_sent=$(stat "$WORK/r2.stats" relay.sent)
loops=$(stat "$WORK/r1.stats" relay.loops)
[ "$r2_sent" = "$n_sink" ] || fail "R2 relayed $r2_sent packets, R1 sent $n_sink"
# relayed packets count in their rule, as captured messages do
r2_matched=$(stat "$WORK/r2.stats" 'rule[all].matched')
[ "$r2_matched" = "$r2_sent" ] || fail "R2's rule counted $r2_matched matches, it relayed $r2_sent"
[ "$loops" = "$n_sink" ] || fail "R1 dropped $loops packets as loops, R2 sent it $n_sink"
[ "$(stat "$WORK/r1.stats" 'input[agents-tcp].closed_slow')" -ge 1 ] ||
    fail "the slow loris was not counted"
# the corpus: each reason counted at each input as often as it was sent (the
# ok__ files are relayed like the rest: that is the --extra below)
while read -r where count; do
    proto=${where%%.*} reason=${where#*.}
    [ "$reason" = ok ] && continue
    got=$(stat "$WORK/r1.stats" "input[agents-$proto].malformed.$reason")
    [ "$got" = "$count" ] || fail "input agents-$proto: $reason counted $got times, sent $count"
done <"$WORK/corpus.out"
garbage=$(stat "$WORK/r1.stats" 'input[agents-tcp].closed_garbage')
[ "$garbage" -ge 10 ] || fail "only $garbage TCP connections closed for garbage"
note "R1: $n_sink packets relayed once each ($n_expect from the agents, $n_sngrep from sngrep," \
    "$ok_files valid corpus packets), $loops loop copies dropped, $garbage garbage connections closed"
echo "PASS"
