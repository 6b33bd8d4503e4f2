#!/usr/bin/env bash
# A thousand reconnects leak nothing. hepagent captures generated SIP live on
# loopback and sends it to two TCP collectors (mode "all"):
#   closing: hep_sink -C 1 closes every connection after its first packet,
#            so each one is a full connect, write, half-close, drain, close;
#   refused: nothing listens, every attempt fails (ECONNREFUSED), its queue
#            overflows and drops.
# reconnect_min_ms 10 / reconnect_max_ms 20. Traffic runs until the closing
# collector has had RECONNECTS (default 1000) reconnects and the refused one
# as many failed attempts (at most 45 s), then SIGTERM: hepagent must exit 0,
# every message must be at the closing collector exactly once, and the
# refused one's must all be counted as dropped.
# Leaks: in a build with AddressSanitizer, LeakSanitizer checks at exit
# (ASAN_OPTIONS detect_leaks=1); otherwise hepagent runs under valgrind
# --leak-check=full when it is installed (VALGRIND=0 skips it), else only
# RSS is checked: it may not grow by more than 1 MB between the first 20% of
# the reconnects and the end.
source "$(dirname "$0")/lib.sh" "$@"
source "$E2E_DIR/delivery_lib.sh"

RECONNECTS=${RECONNECTS:-1000}
RATE=500
T0=$(date +%s)
read -r GEN P_CLOSE P_REFUSED <<<"$(pick_ports 3)"
C_CLOSE="collector[tcp://127.0.0.1:$P_CLOSE]"
C_REFUSED="collector[tcp://127.0.0.1:$P_REFUSED]"

checker=rss
if grep -qa __asan_init "$HEPAGENT"; then
    checker=lsan
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
    [[ "$ASAN_OPTIONS" == *detect_leaks=1* ]] || ASAN_OPTIONS+=:detect_leaks=1
elif [ "${VALGRIND:-1}" != 0 ] && command -v valgrind >/dev/null; then
    checker=valgrind
    AGENT_WRAPPER=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible
                   --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=3 -q)
    AGENT_START_SECONDS=30
fi
note "leak check: $checker"

sink_start closing "$P_CLOSE" -C 1
AGENT_SHUTDOWN_MS=1000 agent_config "$WORK/agent.json" "$GEN" \
    "[{\"url\": \"tcp://127.0.0.1:$P_CLOSE\"}, {\"url\": \"tcp://127.0.0.1:$P_REFUSED\", \"queue_kb\": 64}]" \
    '{"reconnect_min_ms": 10, "reconnect_max_ms": 20}'
agent_start agent "$WORK/agent.json"
wait_log agent "$P_CLOSE: connected" 1 10

"$PYTHON" "$SIPGEN" "$GEN" leak $((RATE * 60)) "$RATE" >"$WORK/gen.out" &
GEN_PID=$!
reconnects=0
failures=0
rss_early=
for ((i = 0; i < 45; i++)); do
    sleep 1
    kill -0 "$(agent_pid agent)" 2>/dev/null || { tail -n 40 "$WORK/agent.log" >&2; fail "hepagent died"; }
    reconnects=$(live_stat agent "$C_CLOSE.reconnects")
    failures=$(live_stat agent "$C_REFUSED.disconnects")
    [ -z "$rss_early" ] && ((reconnects >= RECONNECTS / 5)) && rss_early=$(rss_kb "$(agent_pid agent)")
    ((reconnects >= RECONNECTS && failures >= RECONNECTS)) && break
done
kill -TERM "$GEN_PID"
wait_exit "$GEN_PID" 5 || fail "the SIP generator did not stop"
N=$(cat "$WORK/gen.out")
note "after $((i + 1)) s: $reconnects reconnects, $failures refused attempts, $N messages"
rss_late=$(rss_kb "$(agent_pid agent)")
wait_sink_lines "$N" 20 closing
kill -TERM "$(agent_pid agent)"
wait_exit "$(agent_pid agent)" 30 || fail "hepagent still running 30 s after SIGTERM"
AGENT_PIDS[agent]=
sink_stop closing

# the counters at exit, and the leak checker's verdict
connects=$(counter agent "$C_CLOSE.connects")
reconnects=$(counter agent "$C_CLOSE.reconnects")
failures=$(counter agent "$C_REFUSED.disconnects")
read -r pkts distinct dups late <<<"$(callids $(sink_files closing))"
dropped=$(($(counter agent "$C_REFUSED.dropped_queue_full") + $(counter agent "$C_REFUSED.dropped_shutdown")))
note "closing: $reconnects reconnects ($connects connects), $distinct of $N delivered ($dups duplicates, $late out of order, $(counter agent "$C_CLOSE.retransmitted") retransmitted); refused: $failures failed attempts, $dropped of $N dropped"
if grep -qE "LeakSanitizer|AddressSanitizer|runtime error:|definitely lost|indirectly lost|possibly lost" "$WORK/agent.log"; then
    # the report without the counters and log lines (sed reads it all: no SIGPIPE)
    grep -vE "^hepagent: |^[][a-zA-Z0-9_.:/]+ [0-9]+$" "$WORK/agent.log" | sed -n '1,80p' >&2
    fail "$checker reports errors"
fi
[ "$WAIT_RC" = 0 ] || { tail -n 40 "$WORK/agent.log" >&2; fail "hepagent exited $WAIT_RC"; }
((reconnects >= RECONNECTS)) || fail "only $reconnects reconnects, want $RECONNECTS"
((reconnects == connects - 1)) || fail "$reconnects reconnects but $connects connects: want one less"
((failures >= RECONNECTS)) || fail "only $failures refused attempts, want $RECONNECTS"
((distinct == N && dups == 0 && late == 0)) || fail "want each of the $N Call-IDs once, in order, at the closing collector"
((dropped == N)) || fail "the refused collector dropped $dropped, want $N"
if [ "$checker" = rss ]; then
    note "RSS after $((RECONNECTS / 5)) reconnects ${rss_early} KB, at the end ${rss_late} KB"
    ((rss_late - rss_early <= 1024)) || fail "RSS grew by $((rss_late - rss_early)) KB over the reconnects"
fi
note "PASS $reconnects reconnects and $failures refused attempts, $checker clean ($(($(date +%s) - T0)) s)"
