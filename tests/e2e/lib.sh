# Shared helpers for the end-to-end tests (sourced, not run).
# Each test is called as: tests/e2e/NAME.sh BUILD_DIR
# and exits 0 on success, non-zero with a message naming what differed.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
BUILD=${1:-$REPO/build}
BUILD=$(cd "$BUILD" && pwd)
HEPAGENT=$BUILD/hepagent
HEP_SINK=$BUILD/tests/hep_sink
CORPUS=$REPO/tests/pcap/corpus
WORK=$(mktemp -d /tmp/hepagent-e2e.XXXXXX)
declare -a E2E_PIDS=()
# A hepagent the test runs (set AGENT_PID=$! after starting it, and back to
# empty once it was waited for): at exit it gets SIGTERM, 5 s, then SIGKILL.
AGENT_PID=
# python3 (stdlib) for small helpers; prefer the system one (a pyenv shim
# costs half a second per start)
PYTHON=$(command -v /usr/bin/python3 python3 | head -n 1) || PYTHON=python3

# wait_exit PID SECONDS: waits for a child to exit, sets WAIT_RC; 1 on timeout.
wait_exit() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then
            WAIT_RC=0
            wait "$1" || WAIT_RC=$?
            return 0
        fi
        sleep 0.05
    done
    return 1
}

e2e_cleanup() {
    local pid
    if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -TERM "$AGENT_PID" 2>/dev/null || true
        wait_exit "$AGENT_PID" 5 || kill -KILL "$AGENT_PID" 2>/dev/null || true
    fi
    for pid in "${E2E_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${E2E_KEEP:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap e2e_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }

# pick_ports N: N distinct ports in 20000-32000 that no TCP/UDP socket uses
# (below the kernel's ephemeral range, so outgoing connections won't take them).
pick_ports() {
    local want=$1 used p n=0 picked=" "
    used=" $(ss -Hantu 2>/dev/null | awk '{print $5}' | sed 's/.*://' | sort -u | tr '\n' ' ') "
    while ((n < want)); do
        p=$((20000 + RANDOM % 12000))
        [[ "$used" == *" $p "* || "$picked" == *" $p "* ]] && continue
        picked+="$p "
        n=$((n + 1))
    done
    picked=${picked# }
    echo "${picked% }"
}

# wait_for_file FILE [SECONDS]
wait_for_file() {
    local i
    for ((i = 0; i < ${2:-10} * 20; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    fail "timed out waiting for $1"
}

# start_sink NAME ARGS... : starts hep_sink on free ports, writing $WORK/NAME.jsonl;
# sets SINK_UDP_PORT, SINK_TCP_PORT and SINK_PID.
start_sink() {
    local name=$1
    shift
    rm -f "$WORK/$name.port"
    "$HEP_SINK" -p "$WORK/$name.port" -o "$WORK/$name.jsonl" "$@" 2>"$WORK/$name.sink.log" &
    SINK_PID=$!
    E2E_PIDS+=("$SINK_PID")
    wait_for_file "$WORK/$name.port"
    read -r SINK_UDP_PORT SINK_TCP_PORT <"$WORK/$name.port"
}

# stop_sink: lets the sink read what is in flight, then stops it.
stop_sink() {
    sleep 0.3
    kill -TERM "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
}

# wait_for_lines FILE COUNT [SECONDS]: until FILE has COUNT lines (or time runs out)
wait_for_lines() {
    local i
    for ((i = 0; i < ${3:-10} * 20; i++)); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
