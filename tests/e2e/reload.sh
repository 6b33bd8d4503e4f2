#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# SIGHUP reload on a live capture (loopback).
#
# hepagent runs with -c $WORK/cfg.json whose one rule sends SIP on port A only.
# A small UDP sender puts SIP OPTIONS on loopback towards port A and port B
# (nothing listens there); each message has its own Call-ID, and the sink's
# "corr" field says which ones hepagent sent. Phases:
#   1. rule = A             -> only A's messages arrive
#   2. rule = B, SIGHUP     -> "reloaded" logged; only B's arrive
#   3. bad CIDR, SIGHUP     -> error naming rules[0].hosts[0]; still only B's
#   4. invalid JSON, SIGHUP -> error naming the file; still only B's
#   5. rule = A, SIGHUP     -> a later valid reload still works; only A's
# then SIGTERM: exit status 0. Last, -v outlives reloads: a config saying
# log_level "error", reloaded twice, still logs at debug. Every phase ends with a "fence" message to the
# port that should be sent; once it is at the sink, everything sent before it
# has gone through hepagent (capture and the queue keep their order), so no
# phase relies on sleeping.

PER_PORT=3 # messages per port and phase (plus the fence)

LOG=$WORK/agent.log
agent_alive() {
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$LOG" >&2; fail "hepagent died ($1)"; }
}

# wait_log PATTERN COUNT SECONDS: until the agent log has COUNT lines matching
# PATTERN (grep -E).
wait_log() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        [ "$(grep -cE -- "$1" "$LOG" || true)" -ge "$2" ] && return 0
        agent_alive "waiting for log line /$1/"
        sleep 0.05
    done
    cat "$LOG" >&2
    fail "hepagent did not log /$1/ (${2}x) within $3 s"
}

# write_config FILE PORT [EXTRA_RULE_JSON]
write_config() {
    cat >"$1" <<EOF
/* written by tests/e2e/reload.sh */
{
    "agent": { "capture_id": 3003, "log_level": "info", "shutdown_timeout_ms": 3000 },
    "capture": [ { "interface": "lo", "bpf": "", "snaplen": 65535 } ],
    "rules": [
        { "name": "only-$2", "ports": [$2], "transport": ["udp"]${3:+, $3}, "action": "send" }
    ],
    "collectors": [ { "url": "udp://127.0.0.1:$SINK_UDP_PORT" } ]
}
EOF
}

# The config is replaced by rename, as an editor or a deployment tool would.
install_config() {
    cp "$1" "$CFG.tmp" && mv -f "$CFG.tmp" "$CFG"
}

cat >"$WORK/send_sip.py" <<'PY'
# send_sip.py PORT:CALL-ID...: one SIP OPTIONS per argument, in order, over
# UDP from one ephemeral port to 127.0.0.1:PORT
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lport = s.getsockname()[1]
for n, arg in enumerate(sys.argv[1:], 1):
    port, cid = arg.split(":", 1)
    port = int(port)
    msg = (f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{cid}\r\n"
           f"Max-Forwards: 70\r\n"
           f"From: <sip:reload-test@127.0.0.1>;tag={n}\r\n"
           f"To: <sip:probe@127.0.0.1:{port}>\r\n"
           f"Call-ID: {cid}\r\n"
           f"CSeq: {n} OPTIONS\r\n"
           f"Content-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), ("127.0.0.1", port))
PY

SEEN=$WORK/seen.txt # Call-IDs at the sink, one a line, in arrival order
# (the test's Call-IDs need no JSON escaping; a line without one shows as "-")
sink_callids() {
    sed -E 's/.*"corr":"([^"]*)".*/\1/; t; s/.*/-/' "$WORK/reload.jsonl" >"$SEEN"
}

# phase NAME SEND_PORT: sends PER_PORT messages to A and to B (interleaved),
# then a fence to SEND_PORT; waits for the fence; the phase's Call-IDs at the
# sink must be exactly SEND_PORT's messages plus the fence, each once.
phase() {
    local name=$1 good=$2 i ids_a=() ids_b=() want=() args=() fence="$1-fence@reload.test"
    for ((i = 1; i <= PER_PORT; i++)); do
        ids_a+=("$name-A$i@reload.test")
        ids_b+=("$name-B$i@reload.test")
        args+=("$PORT_A:${ids_a[-1]}" "$PORT_B:${ids_b[-1]}")
    done
    "$PYTHON" "$WORK/send_sip.py" "${args[@]}" "$good:$fence"
    if [ "$good" = "$PORT_A" ]; then want=("${ids_a[@]}"); else want=("${ids_b[@]}"); fi
    want+=("$fence")
    for ((i = 0; i < 100; i++)); do
        grep -qF -- "\"corr\":\"$fence\"" "$WORK/reload.jsonl" && break
        agent_alive "phase $name"
        sleep 0.05
    done
    sink_callids
    if ((i >= 100)); then
        echo "   this phase's Call-IDs at the sink: $(grep -E "^$name-" "$SEEN" | tr '\n' ' ')" >&2
        fail "phase $name: the fence message to port $good never reached the sink (5 s)"
    fi
    local got
    got=$(grep -E "^$name-" "$SEEN" | sort)
    if [ "$got" != "$(printf '%s\n' "${want[@]}" | sort)" ]; then
        echo "   want (port $good only): $(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')" >&2
        echo "   got at the sink:       $(echo "$got" | tr '\n' ' ')" >&2
        fail "phase $name: the sink did not get exactly port $good's messages, once each"
    fi
    note "phase $name: only port $good's $PER_PORT messages (+fence) arrived, once each"
}

# ---- start ---------------------------------------------------------------

T0=$(date +%s.%N)
read -r PORT_A PORT_B <<<"$(pick_ports 2)"
start_sink reload -u 0
note "port A $PORT_A, port B $PORT_B, sink udp/$SINK_UDP_PORT"

CFG=$WORK/cfg.json
write_config "$WORK/cfg-a.json" "$PORT_A"
write_config "$WORK/cfg-b.json" "$PORT_B"
write_config "$WORK/cfg-badcidr.json" "$PORT_A" '"hosts": ["10.0.0.0/33"]' # /33: invalid
head -c -40 "$WORK/cfg-a.json" >"$WORK/cfg-badjson.json" # cut off: invalid JSON
for f in cfg-a cfg-b; do
    "$HEPAGENT" -t -c "$WORK/$f.json" >/dev/null 2>"$WORK/check.err" || { cat "$WORK/check.err" >&2; fail "hepagent -t rejects $f.json"; }
done
for f in cfg-badcidr cfg-badjson; do
    rc=0
    "$HEPAGENT" -t -c "$WORK/$f.json" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "hepagent -t -c $f.json exited $rc, want 2"
done

install_config "$WORK/cfg-a.json"
"$HEPAGENT" -i lo -c "$CFG" 2>"$LOG" &
AGENT_PID=$!
E2E_PIDS+=("$AGENT_PID")
wait_log "^hepagent: info: capturing on" 1 5
note "hepagent $AGENT_PID capturing on lo"

# ---- phases --------------------------------------------------------------

phase p1 "$PORT_A"

install_config "$WORK/cfg-b.json"
kill -HUP "$AGENT_PID"
wait_log "^hepagent: info: reloaded " 1 5
phase p2 "$PORT_B"

install_config "$WORK/cfg-badcidr.json"
kill -HUP "$AGENT_PID"
wait_log "reload failed, keeping the running configuration" 1 5
grep -F "reload failed" "$LOG" | tail -n 1 | grep -qF 'rules[0].hosts[0]' ||
    { cat "$LOG" >&2; fail "the bad-CIDR reload error does not name rules[0].hosts[0]"; }
grep -F "reload failed" "$LOG" | tail -n 1 | grep -qF '10.0.0.0/33' ||
    { cat "$LOG" >&2; fail "the bad-CIDR reload error does not show the value 10.0.0.0/33"; }
note "bad CIDR: $(grep -F "reload failed" "$LOG" | tail -n 1)"
phase p3 "$PORT_B"

install_config "$WORK/cfg-badjson.json"
kill -HUP "$AGENT_PID"
wait_log "reload failed, keeping the running configuration" 2 5
grep -F "reload failed" "$LOG" | tail -n 1 | grep -qF "$CFG" ||
    { cat "$LOG" >&2; fail "the invalid-JSON reload error does not name $CFG"; }
note "bad JSON: $(grep -F "reload failed" "$LOG" | tail -n 1)"
phase p4 "$PORT_B"

install_config "$WORK/cfg-a.json"
kill -HUP "$AGENT_PID"
wait_log "^hepagent: info: reloaded " 2 5
phase p5 "$PORT_A"

[ "$(grep -c "reloaded" "$LOG")" = 2 ] || { cat "$LOG" >&2; fail "want exactly 2 'reloaded' log lines"; }

# ---- stop ----------------------------------------------------------------

kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || { cat "$LOG" >&2; fail "hepagent still running 10 s after SIGTERM"; }
AGENT_RC=$WAIT_RC
AGENT_PID=
[ "$AGENT_RC" = 0 ] || { cat "$LOG" >&2; fail "hepagent exited $AGENT_RC after SIGTERM, want 0"; }
stop_sink

# nothing else at the sink: every line is one of the phases' expected messages
sink_callids
TOTAL=$(wc -l <"$SEEN")
WANT=$((5 * (PER_PORT + 1)))
if [ "$TOTAL" != "$WANT" ] || [ "$(sort "$SEEN" | uniq -d | wc -l)" != 0 ]; then
    sort "$SEEN" | uniq -c >&2
    fail "the sink holds $TOTAL HEP packets (want $WANT distinct Call-IDs)"
fi
sed 's/^/   agent log: /' "$LOG"

# ---- -v outlives a reload --------------------------------------------------

sed 's/"log_level": "info"/"log_level": "error"/' "$WORK/cfg-a.json" >"$WORK/cfg-quiet.json"
install_config "$WORK/cfg-quiet.json"
start_sink reload -u 0
LOG=$WORK/agent-v.log
"$HEPAGENT" -v -i lo -c "$CFG" 2>"$LOG" &
AGENT_PID=$!
E2E_PIDS+=("$AGENT_PID")
wait_log "^hepagent: info: capturing on" 1 5
for n in 1 2; do
    kill -HUP "$AGENT_PID"
    wait_log "^hepagent: info: reloaded " "$n" 5
done
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || { cat "$LOG" >&2; fail "hepagent -v still running 10 s after SIGTERM"; }
AGENT_PID=
stop_sink
grep -q "^hepagent: debug: stopping: SIGTERM" "$LOG" ||
    { cat "$LOG" >&2; fail "after two reloads of a log_level \"error\" config, -v no longer logs debug"; }
note "-v: info and debug lines logged through two reloads of a log_level \"error\" config"
note "PASS: reloads took effect, failed reloads kept the old rules, exit 0 ($(printf '%.1f' "$(echo "$(date +%s.%N) - $T0" | bc)") s)"
