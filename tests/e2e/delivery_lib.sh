# Helpers for the delivery fault tests (sourced after lib.sh): hepagent
# instances capturing generated SIP on loopback, TCP sinks on fixed ports
# that can be stopped and started again, counters and RSS.

SIPGEN=$E2E_DIR/sipgen.py
declare -A AGENT_PIDS=() SINK_PIDS=() SINK_RUNS=()

# stop_pid PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    wait_exit "$1" "$2" || { kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
}

# The shared cleanup waits without a limit: stop ours first, with one.
delivery_cleanup() {
    local name
    for name in "${!AGENT_PIDS[@]}"; do [ -n "${AGENT_PIDS[$name]}" ] && stop_pid "${AGENT_PIDS[$name]}" 5; done
    for name in "${!SINK_PIDS[@]}"; do [ -n "${SINK_PIDS[$name]}" ] && stop_pid "${SINK_PIDS[$name]}" 3; done
    e2e_cleanup
}
trap delivery_cleanup EXIT

# sink_start NAME PORT [hep_sink options]: a TCP sink on 127.0.0.1:PORT; each
# start writes its own $WORK/NAME.RUN.jsonl (see sink_files).
sink_start() {
    local name=$1 port=$2 run
    shift 2
    run=$((${SINK_RUNS[$name]:-0} + 1))
    SINK_RUNS[$name]=$run
    rm -f "$WORK/$name.port"
    "$HEP_SINK" -t "$port" -p "$WORK/$name.port" -o "$WORK/$name.$run.jsonl" "$@" \
        2>>"$WORK/$name.sink.log" &
    SINK_PIDS[$name]=$!
    wait_for_file "$WORK/$name.port" 5
}

# sink_stop NAME...: SIGTERM to each (a sink half-closes, reads what is in
# flight and exits), then waits for them.
sink_stop() {
    local name pid
    for name in "$@"; do
        pid=${SINK_PIDS[$name]:-}
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for name in "$@"; do
        pid=${SINK_PIDS[$name]:-}
        [ -n "$pid" ] && stop_pid "$pid" 5
        SINK_PIDS[$name]=
    done
}

# sink_files NAME: its output files, one per start, in order
sink_files() { ls -v "$WORK/$1".*.jsonl 2>/dev/null; }

# sink_lines NAME...: HEP packets written so far by these sinks (all runs).
sink_lines() {
    local name total=0
    for name in "$@"; do
        for f in $(sink_files "$name"); do total=$((total + $(wc -l <"$f"))); done
    done
    echo "$total"
}

# wait_sink_lines COUNT SECONDS NAME...: until the sinks hold COUNT packets.
wait_sink_lines() {
    local want=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(sink_lines "$@")" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "the sinks $* hold $(sink_lines "$@") packets after $secs s, want $want"
}

# agent_start NAME CONFIG: hepagent -c CONFIG --stats, log in $WORK/NAME.log;
# returns once it captures. AGENT_WRAPPER (an array, e.g. valgrind and its
# options) goes in front; AGENT_START_SECONDS (default 5) bounds the wait.
AGENT_WRAPPER=()
agent_start() {
    local name=$1 i
    "${AGENT_WRAPPER[@]}" "$HEPAGENT" -c "$2" --stats 2>"$WORK/$name.log" &
    AGENT_PIDS[$name]=$!
    for ((i = 0; i < ${AGENT_START_SECONDS:-5} * 20; i++)); do
        grep -q "capturing on" "$WORK/$name.log" && return 0
        kill -0 "${AGENT_PIDS[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/$name.log" >&2
    fail "hepagent $name did not start capturing"
}

agent_pid() { echo "${AGENT_PIDS[$1]}"; }

# agent_stop NAME [SECONDS]: SIGTERM; fails unless it exits 0 within SECONDS
# (default 15).
agent_stop() {
    local name=$1 pid=${AGENT_PIDS[$1]}
    kill -TERM "$pid"
    wait_exit "$pid" "${2:-15}" || { tail -n 20 "$WORK/$name.log" >&2; fail "hepagent $name still running ${2:-15} s after SIGTERM"; }
    AGENT_PIDS[$name]=
    [ "$WAIT_RC" = 0 ] || { tail -n 40 "$WORK/$name.log" >&2; fail "hepagent $name exited $WAIT_RC"; }
}

# counter NAME COUNTER: a counter from the --stats lines of a stopped agent
# ("collector[tcp://...].sent"), 0 when absent.
counter() {
    awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$WORK/$1.log"
}

# wait_log NAME PATTERN COUNT SECONDS: until the agent's log has COUNT lines
# matching PATTERN (grep -E).
wait_log() {
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        [ "$(grep -cE -- "$2" "$WORK/$1.log" || true)" -ge "$3" ] && return 0
        sleep 0.05
    done
    tail -n 20 "$WORK/$1.log" >&2
    fail "hepagent $1 did not log /$2/ (${3}x) within $4 s"
}

# live_stat NAME COUNTER: a counter of a running agent (SIGUSR1 logs them all).
live_stat() {
    local before i
    before=$(grep -c "stats: process.max_rss_kb" "$WORK/$1.log" || true)
    kill -USR1 "${AGENT_PIDS[$1]}"
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c "stats: process.max_rss_kb" "$WORK/$1.log" || true)" -gt "$before" ] && break
        sleep 0.02
    done
    awk -v k="$2" '$3 == k { v = $4 } END { print v + 0 }' "$WORK/$1.log"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# callids FILES...: "packets distinct duplicated late" over the Call-IDs in
# sink output, files in the order given (a packet counts as a duplicate each
# time its Call-ID was seen before; as late when a Call-ID PREFIX-N with a
# higher N arrived before it).
callids() {
    "$PYTHON" - "$@" <<'PY'
import json, sys
seen = {}
n = late = 0
top = -1
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            c = json.loads(line).get("corr", "-")
            seen[c] = seen.get(c, 0) + 1
            n += 1
            k = int(c.rsplit("-", 1)[1]) if c.rsplit("-", 1)[-1].isdigit() else -1
            if k < top:
                late += 1
            top = max(top, k)
print(n, len(seen), n - len(seen), late)
PY
}

# agent_config FILE "PORT..." COLLECTORS_JSON DELIVERY_JSON: capture on lo the
# UDP datagrams to these ports, send every SIP message among them to the
# collectors; shutdown_timeout_ms is AGENT_SHUTDOWN_MS (default 10000).
agent_config() {
    local bpf="" list="" p
    for p in $2; do
        bpf+="${bpf:+ or }dst port $p"
        list+="${list:+, }$p"
    done
    cat >"$1" <<EOF
{
    "agent": { "capture_id": 3005, "log_level": "info",
               "shutdown_timeout_ms": ${AGENT_SHUTDOWN_MS:-10000} },
    "capture": [ { "interface": "lo", "bpf": "udp and ($bpf)", "snaplen": 65535,
                   "buffer_mb": 16 } ],
    "rules": [ { "name": "gen", "ports": [$list], "transport": ["udp"], "action": "send" } ],
    "collectors": $3,
    "delivery": $4
}
EOF
    "$HEPAGENT" -t -c "$1" >/dev/null 2>"$1.err" || { cat "$1.err" >&2; fail "hepagent -t rejects $1"; }
}
