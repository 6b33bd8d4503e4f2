#!/usr/bin/env bash
# A TCP collector stops for OUTAGE_SECONDS (default 60) while RATE (default
# 1000) SIP messages per second flow, then starts again on the same port.
# Two hepagents capture the same generated OPTIONS (one Call-ID each) live on
# loopback, side by side so both variants take the time of one:
#   drop:  a 256 KB queue, no spool -> every message is delivered or counted
#          as dropped (dropped_queue_full + dropped_shutdown), exactly;
#   spool: a 1 MB queue overflowing to a spool -> every message delivered,
#          none dropped, the spool empty at the end;
#   restart: the same as spool, but hepagent is itself restarted halfway
#          through the outage (SIGTERM puts its queue in front of the spool)
#          -> every message it captured in either run is delivered;
#   full:  a spool of 8 MB that the outage overflows (from about 30 s), drop
#          "oldest" -> delivered + dropped + evicted from the spool = sent.
# Neither may deliver a Call-ID twice or out of order. RSS is sampled every second during the
# outage and must not grow by more than RSS_SLACK_KB (default 4096) after the
# first 5 s (by then the queue is full: memory must stay flat from there).
source "$(dirname "$0")/lib.sh" "$@"
source "$E2E_DIR/delivery_lib.sh"

OUTAGE=${OUTAGE_SECONDS:-60}
RATE=${RATE:-1000}
PRE=5  # seconds of traffic before the outage
POST=5 # and after it
RSS_SLACK_KB=${RSS_SLACK_KB:-4096}
((OUTAGE >= 10)) || fail "OUTAGE_SECONDS must be at least 10"
N=$((RATE * (PRE + OUTAGE + POST)))
T0=$(date +%s)

read -r GEN PORT_DROP PORT_SPOOL PORT_RESTART PORT_FULL <<<"$(pick_ports 5)"
sink_start drop "$PORT_DROP"
sink_start spool "$PORT_SPOOL"
sink_start restart "$PORT_RESTART"
sink_start full "$PORT_FULL"
DELIVERY='{"reconnect_min_ms": 100, "reconnect_max_ms": 1000'
agent_config "$WORK/drop.json" "$GEN" \
    "[{\"url\": \"tcp://127.0.0.1:$PORT_DROP\", \"queue_kb\": 256, \"drop\": \"oldest\"}]" \
    "$DELIVERY}"
agent_config "$WORK/spool.json" "$GEN" \
    "[{\"url\": \"tcp://127.0.0.1:$PORT_SPOOL\", \"queue_kb\": 1024, \"spool\": true}]" \
    "$DELIVERY, \"spool_dir\": \"$WORK/spool\", \"spool_mb\": 256}"
agent_config "$WORK/full.json" "$GEN" \
    "[{\"url\": \"tcp://127.0.0.1:$PORT_FULL\", \"queue_kb\": 256, \"spool\": true, \"drop\": \"oldest\"}]" \
    "$DELIVERY, \"spool_dir\": \"$WORK/spool-full\", \"spool_mb\": 8}"
# (a collector that is down would hold its SIGTERM for shutdown_timeout_ms)
AGENT_SHUTDOWN_MS=1000 agent_config "$WORK/restart.json" "$GEN" \
    "[{\"url\": \"tcp://127.0.0.1:$PORT_RESTART\", \"queue_kb\": 1024, \"spool\": true}]" \
    "$DELIVERY, \"spool_dir\": \"$WORK/spool-restart\", \"spool_mb\": 256}"
agent_start drop "$WORK/drop.json"
agent_start spool "$WORK/spool.json"
agent_start restart1 "$WORK/restart.json"
agent_start full "$WORK/full.json"
for a in drop spool restart1 full; do wait_log "$a" "connected" 1 5; done
note "$N messages at $RATE/s to udp/$GEN; collectors tcp/$PORT_DROP (drop), tcp/$PORT_SPOOL (spool), tcp/$PORT_RESTART (restart), tcp/$PORT_FULL (full)"

"$PYTHON" "$SIPGEN" "$GEN" outage "$N" "$RATE" >"$WORK/gen.out" &
GEN_PID=$!
sleep "$PRE"
((GEN_PID)) && kill -0 "$GEN_PID" 2>/dev/null || fail "the SIP generator stopped early"

# ---- the outage ------------------------------------------------------------

sink_stop drop spool restart full
note "collectors stopped at $(($(date +%s) - T0)) s"
declare -A RSS=([drop]="" [spool]="")
end=$((SECONDS + OUTAGE)) # by the clock: sampling takes time too
restart_at=$((SECONDS + OUTAGE / 2))
while ((SECONDS < end)); do
    sleep 1
    for a in drop spool; do
        pid=$(agent_pid "$a")
        kill -0 "$pid" 2>/dev/null || { tail "$WORK/$a.log" >&2; fail "hepagent $a died during the outage"; }
        RSS[$a]+="$(rss_kb "$pid") "
    done
    if ((restart_at && SECONDS >= restart_at)); then
        agent_stop restart1 5
        agent_start restart2 "$WORK/restart.json"
        note "hepagent (restart) restarted at $(($(date +%s) - T0)) s"
        restart_at=0
    fi
done
sink_start drop "$PORT_DROP"
sink_start spool "$PORT_SPOOL"
sink_start restart "$PORT_RESTART"
sink_start full "$PORT_FULL"
note "collectors started again at $(($(date +%s) - T0)) s"

wait_exit "$GEN_PID" $((POST + 30)) || fail "the SIP generator did not finish"
[ "$(cat "$WORK/gen.out")" = "$N" ] || fail "the generator sent $(cat "$WORK/gen.out") messages, want $N"
# everything spooled has to reach the collector before the agent stops
wait_for_lines "$(sink_files spool | tail -n 1)" 1 10 || fail "nothing reached the spool collector after the outage"
for ((i = 0; i < 300; i++)); do
    [ "$(cat $(sink_files spool) | wc -l)" -ge "$N" ] && break
    sleep 0.1
done
# until the spools are empty
for a in restart2 full; do
    C="collector[tcp://127.0.0.1:$PORT_RESTART]"
    [ "$a" = full ] && C="collector[tcp://127.0.0.1:$PORT_FULL]"
    for ((i = 0; i < 300; i++)); do
        [ "$(live_stat "$a" "$C.queue_packets")" = 0 ] && [ "$(live_stat "$a" "$C.spool_bytes")" = 0 ] && break
        sleep 0.1
    done
done
for a in drop spool restart2 full; do agent_stop "$a"; done
sink_stop drop spool restart full

# ---- memory ----------------------------------------------------------------

for a in drop spool; do
    read -r min max at5 <<<"$(echo "${RSS[$a]}" | tr ' ' '\n' | awk 'NF {
        if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1; if (NR == 5) at5 = $1 }
        END { print min, max, at5 }')"
    note "$a: RSS during the outage (KB, 1/s): ${RSS[$a]}"
    note "$a: RSS min $min KB, max $max KB, at 5 s $at5 KB: growth after 5 s $((max - at5)) KB (bound $RSS_SLACK_KB)"
    ((max - at5 <= RSS_SLACK_KB)) || fail "$a: RSS grew by $((max - at5)) KB during the outage"
done

# ---- accounting --------------------------------------------------------------

check_captured() {
    local got
    got=$(counter "$1" rules_sent)
    [ "$got" = "$N" ] || fail "$1: hepagent captured $got of $N messages (kernel_dropped $(counter "$1" 'interface[lo].kernel_dropped'))"
}
C="collector[tcp://127.0.0.1:$PORT_DROP]"
check_captured drop
read -r pkts distinct dups late <<<"$(callids $(sink_files drop))"
full=$(counter drop "$C.dropped_queue_full")
shut=$(counter drop "$C.dropped_shutdown")
errs=$(counter drop "$C.send_errors")
sent=$(counter drop "$C.sent")
note "drop: sent $N; delivered $distinct distinct ($pkts packets, $dups duplicates, $late out of order); dropped $full (queue full) + $shut (shutdown) + $errs (send errors); connects $(counter drop "$C.connects"), retransmitted $(counter drop "$C.retransmitted")"
((full > 0)) || fail "drop: nothing was dropped: the outage did not fill the queue"
((distinct + full + shut + errs == N)) ||
    fail "drop: delivered $distinct + dropped $((full + shut + errs)) = $((distinct + full + shut + errs)), want $N"
((dups == 0)) || fail "drop: $dups Call-IDs arrived more than once"
((late == 0)) || fail "drop: $late messages arrived after later ones"
((sent == pkts)) || fail "drop: hepagent counted $sent sent, the collector read $pkts"

C="collector[tcp://127.0.0.1:$PORT_SPOOL]"
check_captured spool
read -r pkts distinct dups late <<<"$(callids $(sink_files spool))"
lost=0
for k in dropped_queue_full dropped_shutdown send_errors spool_dropped spool_corrupt; do
    lost=$((lost + $(counter spool "$C.$k")))
done
spooled=$(counter spool "$C.spooled")
replayed=$(counter spool "$C.replayed")
note "spool: sent $N; delivered $distinct distinct ($pkts packets, $dups duplicates, $late out of order); dropped $lost; spooled $spooled, replayed $replayed, left $(counter spool "$C.spool_bytes") bytes; connects $(counter spool "$C.connects"), retransmitted $(counter spool "$C.retransmitted")"
((spooled > 0)) || fail "spool: nothing was spooled: the outage did not fill the queue"
((lost == 0)) || fail "spool: $lost messages dropped"
((distinct == N)) || fail "spool: $distinct of $N Call-IDs delivered"
((dups == 0)) || fail "spool: $dups Call-IDs arrived more than once"
((late == 0)) || fail "spool: $late messages arrived after later ones: the spool was not replayed in order"
((replayed == spooled)) || fail "spool: $spooled spooled but $replayed replayed"
[ "$(counter spool "$C.spool_bytes")" = 0 ] || fail "spool: $(counter spool "$C.spool_bytes") bytes left in the spool"

C="collector[tcp://127.0.0.1:$PORT_RESTART]"
captured=$(($(counter restart1 rules_sent) + $(counter restart2 rules_sent)))
read -r pkts distinct dups late <<<"$(callids $(sink_files restart))"
lost=0
for run in restart1 restart2; do
    for k in dropped_queue_full dropped_shutdown send_errors spool_dropped spool_corrupt; do
        lost=$((lost + $(counter "$run" "$C.$k")))
    done
done
at_shutdown=$(counter restart1 "$C.spooled_at_shutdown")
note "restart: captured $captured of $N (the rest while no hepagent ran); delivered $distinct distinct ($pkts packets, $dups duplicates, $late out of order); dropped $lost; first run: spooled $(counter restart1 "$C.spooled") + $at_shutdown at shutdown; second run: replayed $(counter restart2 "$C.replayed"), left $(counter restart2 "$C.spool_bytes") bytes"
((at_shutdown > 0)) || fail "restart: the first run put nothing in the spool at shutdown"
((captured >= N - 2 * RATE)) || fail "restart: only $captured of $N captured: the restart took over 2 s"
((lost == 0)) || fail "restart: $lost messages dropped"
((distinct == captured && dups == 0 && late == 0)) ||
    fail "restart: want the $captured captured Call-IDs once each, in order"
[ "$(counter restart2 "$C.spool_bytes")" = 0 ] || fail "restart: bytes left in the spool"

C="collector[tcp://127.0.0.1:$PORT_FULL]"
check_captured full
read -r pkts distinct dups late <<<"$(callids $(sink_files full))"
full=$(counter full "$C.dropped_queue_full")
refused=$(counter full "$C.spool_dropped")
evicted=$(counter full "$C.spool_evicted")
shut=$(counter full "$C.dropped_shutdown")
note "full: sent $N; delivered $distinct distinct ($pkts packets, $dups duplicates, $late out of order); spooled $(counter full "$C.spooled"), evicted from the spool $evicted, refused by it $refused; dropped $full (queue full) + $shut (shutdown)"
((distinct + full + refused + evicted + shut == N)) ||
    fail "full: delivered $distinct + dropped $((full + refused + evicted + shut)) != $N"
((OUTAGE < 40 || evicted > 0)) || fail "full: a $OUTAGE s outage did not overflow the 8 MB spool"
((dups == 0 && late == 0)) || fail "full: $dups duplicates, $late out of order"
note "PASS collector outage of $OUTAGE s ($(($(date +%s) - T0)) s)"
