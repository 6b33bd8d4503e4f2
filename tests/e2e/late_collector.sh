#!/usr/bin/env bash
# A collector that comes up while hepagent drains its queues is used (issue 15).
# `hepagent -r CAPTURE` starts before its collector listens; the file is read
# at once, so the whole 5 s shutdown window (shutdown_timeout_ms) is spent
# draining, with the default reconnect backoff (100 ms doubling, +-20 %),
# which alone would put the attempts at about 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s.
# The collector is hep_sink behind a small front door (front.py, below) that
# starts early and begins to listen when told: a busy machine takes seconds
# to start a program, which would make the time the collector comes up a
# matter of luck. Kinds:
#   tcp:   plain TCP;
#   tls:   the front door terminates TLS (a self-signed certificate, the
#          agent's ca_file);
#   spool: TCP, the agent with a spool that an earlier run, whose collector
#          never came, filled: that run must exit 1 saying the packets were
#          kept in the spool; in this one every packet goes through the spool
#          (new ones queue behind spooled ones), so it is the replay that must
#          happen inside the window.
# In the window: the collector listens DELAYS seconds into it (0.5 to 4.6,
# close to the edge: the agent tries a last time 100 ms before it); every
# message must arrive, once, in order (the collector's lines equal a
# reference run's; for spool the earlier run's, then this run's) and the
# agent must exit 0.
# Too late: the collector comes up once the agent gave up; the agent must have
# waited the whole window, exit 1 logging "81 HEP packets could not be
# delivered before the shutdown deadline", and nothing may arrive; with a
# spool the log says the 81 were kept there, and a next run, with the
# collector up, delivers them before its own.
# Where in the window a collector came up is measured, not assumed: from the
# time the agent queued its last packet (the window opens right after; its
# --hep-pcap frames carry the time they were queued) to the front door's
# record of listen(). A case a busy machine started later than EDGE_MS into
# the window, or whose collector, reached by the agent, was not ready to
# take data READY_MARGIN_MS before the deadline, is not judged and runs
# again; every case must be judged REPEAT times (default 3) within
# ROUNDS_SECONDS. The cases of one round run side by side, each on its own
# ports: a round takes about 7 s.
source "$(dirname "$0")/lib.sh" "$@"

CAPTURE=udp/zeek_wireshark_sip.pcap
PCAP=$CORPUS/$CAPTURE
WANT=$(awk -v c="corpus/$CAPTURE" '$1 == c { print $2 }' "$REPO/tests/pcap/TESTLIST")
[ -n "$WANT" ] || fail "no TESTLIST line for $CAPTURE"
command -v capinfos >/dev/null || fail "capinfos is needed (scripts/install-deps.sh)"
WINDOW_MS=5000
DELAYS=${DELAYS:-0.5 1.5 2.5 3.5 4.45 4.6}
EDGE_MS=4750        # a collector up later than this into the window is not judged,
READY_MARGIN_MS=100 # nor one ready to take data later than this before the deadline
REPEAT=${REPEAT:-3}
ROUNDS_SECONDS=${ROUNDS_SECONDS:-80}
KINDS=${KINDS:-tcp tls spool}
T0=$SECONDS

# a self-signed certificate for 127.0.0.1, trusted as the agent's ca_file
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=collector.test" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>"$WORK/openssl.log" ||
    { cat "$WORK/openssl.log" >&2; fail "openssl req failed"; }

# The cases run side by side and poll: only shell builtins in the loops, so a
# busy machine does not get busier.
now_us() { echo "${EPOCHREALTIME/./}"; }
# pause SECONDS: read times out on a pipe nobody writes to (opened once per
# case, in one_case: no process per pause)
pause() { read -r -t "$1" -u "$PAUSE_FD" || true; }

# front.py PORT BACKEND_PORT DIR [CERT KEY]: the collector's front door. It
# starts early (a busy machine takes seconds to start a program, which
# would make the time it comes up a matter of luck), writes DIR/armed, waits
# for SIGUSR1 (and then for the epoch time in DIR/at, if there is one),
# listens on 127.0.0.1:PORT and writes DIR/listening (its
# mtime is when); then relays each connection to hep_sink on
# 127.0.0.1:BACKEND_PORT, terminating TLS first with a certificate; it
# touches DIR/accepted at the first connection and DIR/ready once it is
# ready to relay (the handshake is done).
cat >"$WORK/front.py" <<'PY'
import signal, socket, ssl, sys, threading, time
port, backend, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
open(d + "/armed", "w").close()
signal.sigwait({signal.SIGUSR1})
try:  # the shell may ask for a later moment: sleeping here is one wake-up less
    time.sleep(max(0.0, float(open(d + "/at").read()) - time.time()))
except OSError:
    pass
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
open(d + "/listening", "w").close()


def relay(c):
    try:
        t = ctx.wrap_socket(c, server_side=True) if ctx else c
        b = socket.create_connection(("127.0.0.1", backend))
        open(d + "/ready", "a").close()
        while data := t.recv(65536):
            b.sendall(data)
        b.close()
    except OSError:
        pass
    c.close()


while True:
    c, _ = ls.accept()
    open(d + "/accepted", "a").close()
    threading.Thread(target=relay, args=(c,), daemon=True).start()
PY

# config FILE URL SHUTDOWN_MS [SPOOL_DIR]
config() {
    local col="{\"url\": \"$2\"" delivery="{}"
    [[ "$2" == tls://* ]] && col+=", \"tls\": {\"ca_file\": \"$WORK/tls.crt\"}"
    [ -n "${4:-}" ] && col+=", \"spool\": true" && delivery="{\"spool_dir\": \"$4\"}"
    cat >"$1" <<EOF
{ "agent": { "log_level": "info", "shutdown_timeout_ms": $3 },
  "rules": [ { "name": "all" } ],
  "collectors": [ $col} ],
  "delivery": $delivery }
EOF
}

counter_of() { awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }

# The reference: the collector's lines when it is up from the start.
read -r P_REF <<<"$(pick_ports 1)"
"$HEP_SINK" -t "$P_REF" -p "$WORK/ref.port" -o "$WORK/ref.jsonl" 2>"$WORK/ref.sink.log" &
REF_SINK=$!
E2E_PIDS+=("$REF_SINK")
wait_for_file "$WORK/ref.port" 5
config "$WORK/ref.json" "tcp://127.0.0.1:$P_REF" "$WINDOW_MS"
"$HEPAGENT" -c "$WORK/ref.json" -r "$PCAP" 2>"$WORK/ref.log" || { cat "$WORK/ref.log" >&2; fail "reference run failed"; }
wait_for_lines "$WORK/ref.jsonl" "$WANT" 5 || fail "reference run: $(wc -l <"$WORK/ref.jsonl") of $WANT lines"
kill -TERM "$REF_SINK"
wait "$REF_SINK" || true
cat "$WORK/ref.jsonl" "$WORK/ref.jsonl" >"$WORK/ref2.jsonl"
cat "$WORK/ref.jsonl" "$WORK/ref.jsonl" "$WORK/ref.jsonl" >"$WORK/ref3.jsonl"

# collector_start: the collector of this case listens on $port; returns
# once it does.
collector_start() {
    local i
    kill -USR1 "$front"
    for ((i = 0; i < 1000; i++)); do
        [ -e "$dir/listening" ] && return 0
        pause 0.01
    done
    return 1
}

# started: the agent logged that it captures
started() {
    local line
    while read -r line; do [[ "$line" == *"capturing on"* ]] && return 0; done <"$dir/agent.log"
    return 1
}

# mtime_us FILE: when FILE was written, in microseconds (epoch)
mtime_us() {
    local t
    t=$(stat -c %.6Y "$1") && echo "${t/./}"
}

# The steps of one case, in one_case's variables; sets verdict when it
# failed or cannot be judged. The collector's lines are checked by one_case
# once it stopped.
case_body() {
    result() { verdict="$1 $kind $delay ${up:--} ${rc:--} $2"; }
    config "$dir/agent.json" "$url" "$WINDOW_MS" "$spool"
    if [ -n "$spool" ]; then # an earlier run whose collector never came
        config "$dir/prefill.json" "$url" 100 "$spool"
        "$HEPAGENT" -c "$dir/prefill.json" -r "$PCAP" 2>"$dir/prefill.log" && { result FAIL "prefill run exited 0"; return; }
        grep -q "$WANT HEP packets could not be delivered before the shutdown deadline ($WANT of them kept in the spool" \
            "$dir/prefill.log" || { result FAIL "prefill run: $(tail -n 1 "$dir/prefill.log")"; return; }
    fi
    # hep_sink is up; its front door comes late
    "$HEP_SINK" -t "$backend" -p "$dir/backend.port" -o "$dir/sink.jsonl" 2>"$dir/sink.log" &
    sink=$!
    tls=()
    [ "$kind" = tls ] && tls=("$WORK/tls.crt" "$WORK/tls.key")
    "$PYTHON" "$WORK/front.py" "$port" "$backend" "$dir" "${tls[@]}" 2>"$dir/front.log" &
    front=$!
    wait_for_file "$dir/backend.port" 10
    for ((i = 0; i < 1000; i++)); do
        [ -e "$dir/armed" ] && break
        pause 0.01
    done
    [ -e "$dir/armed" ] || { result FAIL "the collector's front door did not start"; return; }
    # the agents of a round start together, once every case has started its
    # collector: those starts would disturb the windows
    : >"$dir/set"
    for ((i = 0; i < 6000; i++)); do
        [ -e "$go" ] && break
        pause 0.01
    done
    t0=$(now_us)
    "$HEPAGENT" -c "$dir/agent.json" -r "$PCAP" --hep-pcap "$dir/queued.pcap" --stats 2>"$dir/agent.log" &
    agent=$!
    if ((late)); then
        wait_exit "$agent" 30 || { result FAIL "the agent did not exit"; return; }
        rc=$WAIT_RC
        gone=$((($(now_us) - t0) / 1000))
        collector_start || { result FAIL "the collector did not listen"; return; }
        [ "$rc" = 1 ] || { result FAIL "want exit 1"; return; }
        # (the window opened after t0: a correct agent cannot fail this)
        ((gone >= WINDOW_MS)) || { result FAIL "the agent gave up after $gone ms"; return; }
        grep -q "$WANT HEP packets could not be delivered before the shutdown deadline" "$dir/agent.log" ||
            { result FAIL "no count in the log: $(tail -n 1 "$dir/agent.log")"; return; }
        if [ -n "$spool" ]; then
            grep -q "($WANT of them kept in the spool" "$dir/agent.log" || { result FAIL "not kept in the spool"; return; }
            # the collector is up now: the next run delivers what was kept, then its own
            "$HEPAGENT" -c "$dir/agent.json" -r "$PCAP" 2>"$dir/next.log" || { result FAIL "next run exited $?"; return; }
        elif [ "$(counter_of "$dir/agent.log" "collector[$url].dropped_shutdown")" != "$WANT" ]; then
            result FAIL "dropped_shutdown is not $WANT"
            return
        fi
        up=late
    else
        # the window opens once the agent has read the file, right after it
        # logged that it captures: the collector comes up DELAY from there
        for ((i = 0; i < 3000; i++)); do
            started && break
            pause 0.005
        done
        started || { result FAIL "the agent did not start"; return; }
        at_us=$(($(mtime_us "$dir/agent.log") + delay_us))
        echo "$((at_us / 1000000)).$(printf %06d $((at_us % 1000000)))" >"$dir/at"
        collector_start || { result FAIL "the collector did not listen"; return; }
        wait_exit "$agent" 30 || { result FAIL "the agent did not exit"; return; }
        rc=$WAIT_RC
        last_us=$(capinfos -e -S -T -r "$dir/queued.pcap" 2>/dev/null | cut -f2)
        [[ "$last_us" =~ ^[0-9]+\.[0-9]{6}$ ]] || { result FAIL "no time of the last packet queued"; return; }
        last_us=${last_us/./}
        up=$((($(mtime_us "$dir/listening") - last_us) / 1000))
        ((up <= EDGE_MS)) || { result skip "(the collector came up $up ms into the window)"; return; }
        # On a busy machine (or a sanitizer build) the two sides of a
        # connection, a thread and a TLS handshake, can take longer than the
        # window leaves: once the agent reached the collector (not reaching
        # it is the agent's failure), the case is judged only if the
        # collector was ready READY_MARGIN_MS before the deadline.
        if [ -e "$dir/accepted" ]; then
            ready=late
            [ -e "$dir/ready" ] && ready=$((($(mtime_us "$dir/ready") - last_us) / 1000))
            [ "$ready" != late ] && ((ready <= WINDOW_MS - READY_MARGIN_MS)) ||
                { result skip "(the collector was ready only $ready ms into the window)"; return; }
        fi
        [ "$rc" = 0 ] || { result FAIL "want exit 0: $(grep -m1 'could not' "$dir/agent.log")"; return; }
    fi
    wait_for_lines "$dir/sink.jsonl" "$(wc -l <"$want")" 3 || true
    pause 0.2 # anything extra would be in by now
}

# one_case DIR KIND DELAY|late PORT BACKEND_PORT GO: writes DIR/result, one
# line: "ok|FAIL|skip KIND DELAY up_ms rc [reason]"; starts its agent once the
# file GO exists; leaves no process behind.
one_case() {
    local dir=$1 kind=$2 delay=$3 port=$4 backend=$5 go=$6 url spool="" t0 up="" rc="" gone agent=""
    local sink="" front="" late=0 want=$WORK/ref.jsonl verdict="" last_us ready i at_us delay_us tls
    mkdir -p "$dir"
    url="tcp://127.0.0.1:$port"
    [ "$kind" = tls ] && url="tls://127.0.0.1:$port"
    [ "$kind" = spool ] && spool=$dir/spool && want=$WORK/ref2.jsonl
    delay_us=$(awk -v d="$delay" 'BEGIN { printf "%d", d * 1000000 }')
    if [ "$delay" = late ]; then
        late=1
        want=/dev/null
        [ -n "$spool" ] && want=$WORK/ref3.jsonl
    fi
    exec {PAUSE_FD}<> <(:)
    # Times here are those of wake-ups on a machine others share: a higher
    # priority for this case (its agent and collector inherit it) keeps them
    # within milliseconds while the machine is busy.
    renice -n -10 -p "$BASHPID" >/dev/null 2>&1 || true
    case_body
    for pid in $agent $front; do kill -KILL "$pid" 2>/dev/null || true; done
    [ -n "$sink" ] && kill -TERM "$sink" 2>/dev/null || true
    wait 2>/dev/null || true
    if [ -z "$verdict" ]; then
        if cmp -s "$dir/sink.jsonl" "$want"; then
            verdict="ok $kind $delay $up $rc"
        else
            verdict="FAIL $kind $delay $up $rc $(wc -l <"$dir/sink.jsonl") lines at the collector,"
            verdict+=" want the $(wc -l <"$want") of $(basename "$want")"
        fi
    fi
    echo "$verdict" >"$dir/result"
}

# ---- rounds until every case was judged REPEAT times --------------------------

declare -A JUDGED=() UPS=()
ALL=()
for kind in $KINDS; do for delay in $DELAYS late; do ALL+=("$kind $delay"); done; done
fails=0 skips=0 judged=0
ROUNDS_END=$((SECONDS + ROUNDS_SECONDS))
for ((round = 1; SECONDS < ROUNDS_END; round++)); do
    cases=()
    for c in "${ALL[@]}"; do ((${JUDGED[$c]:-0} < REPEAT)) && cases+=("$c"); done
    ((${#cases[@]})) || break
    read -r -a ports <<<"$(pick_ports $((2 * ${#cases[@]})))"
    pids=()
    for ((i = 0; i < ${#cases[@]}; i++)); do
        read -r kind delay <<<"${cases[$i]}"
        one_case "$WORK/r$round-$i" "$kind" "$delay" "${ports[$((2 * i))]}" "${ports[$((2 * i + 1))]}" \
            "$WORK/go$round" >/dev/null 2>&1 &
        pids+=($!)
    done
    for ((t = 0; t < 600; t++)); do # every case set (or failed), at most 60 s
        set_up=0
        for ((i = 0; i < ${#cases[@]}; i++)); do
            [ -e "$WORK/r$round-$i/set" ] || [ -e "$WORK/r$round-$i/result" ] && set_up=$((set_up + 1))
        done
        ((set_up == ${#cases[@]})) && break
        sleep 0.1
    done
    : >"$WORK/go$round"
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    line="round $round (where the collector came up in ms, exit):"
    for ((i = 0; i < ${#cases[@]}; i++)); do
        verdict=FAIL kind=${cases[$i]% *} delay=${cases[$i]#* } up=- rc=- reason="no result"
        [ -s "$WORK/r$round-$i/result" ] && read -r verdict kind delay up rc reason <"$WORK/r$round-$i/result"
        line+=" $kind/$delay=$up,$rc"
        case $verdict in
        ok)
            JUDGED[${cases[$i]}]=$((${JUDGED[${cases[$i]}]:-0} + 1))
            UPS[${cases[$i]}]+="$up "
            judged=$((judged + 1))
            ;;
        skip) skips=$((skips + 1)) ;;
        *)
            JUDGED[${cases[$i]}]=$((${JUDGED[${cases[$i]}]:-0} + 1))
            fails=$((fails + 1))
            echo "FAIL: round $round: $kind, collector up at $up ms (asked $delay), exit $rc: $reason" >&2
            grep -v "^collector\[\|^process\." "$WORK/r$round-$i/agent.log" | tail -n 4 >&2
            ;;
        esac
    done
    note "$line"
done
((fails == 0)) || fail "$fails cases failed"
for c in "${ALL[@]}"; do
    ((${JUDGED[$c]:-0} >= REPEAT)) ||
        fail "$c: judged ${JUDGED[$c]:-0} of $REPEAT times in $((round - 1)) rounds (the machine is too busy to start a collector on time)"
done
for c in "${ALL[@]}"; do [ "${c#* }" = late ] || note "$c s asked: collector up ${UPS[$c]}ms into the window"; done
note "PASS late collector: $judged cases judged, $skips started too late to judge ($((SECONDS - T0)) s)"
