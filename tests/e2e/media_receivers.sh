#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end: real receivers take hepagent's media packets. Calls of the media
# captures (IPv4: hep-js drops IPv6 addresses) are replayed with media.rtcp and
# media.qos on; what hepagent sent is its --hep-pcap, decoded by
# media_receivers.py independently of hepagent.
#
#  * hep-js 1.0.22 decodes every packet, SIP, RTCP (type 5) and QoS (0x22),
#    to the values sent, the JSON payloads included.
#  * Kamailio 5.6 sipcapture over UDP, as configured for SIP (kamailio.cfg,
#    no event route): stores each RTCP packet in rtcp_capture on its own
#    (correlation id, the packet's addresses and time, type 3, the JSON in
#    msg); a QoS report is handed to its SIP parser, which refuses it ("core
#    parsing of SIP message failed"): one such line per report, nothing stored.
#  * Kamailio over TCP with nonsip_hook and an event route that calls
#    report_capture() for types 5 and 34 (-A MEDIA_REPORTS): stores both, with
#    the Call-ID and the JSON (report_capture() takes the connection's
#    addresses, not the packet's).
#
# Needs: node + hep-js (installed by hepjs.sh's npm ci), kamailio (sipcapture,
# db_text), python3.

PY=$PYTHON
CHECK="$E2E_DIR/media_receivers.py"
KAM_TEMPLATES=$E2E_DIR/kamailio
CAPTURE_NODE=e2e-media
CAPTURE_ID=2001
CAPTURES=(clean loss_burst rtcp_mux rtcp_attr nat)
CONFIG=$REPO/tests/pcap/media.json
KAMAILIO=${KAMAILIO:-$(command -v kamailio || echo /usr/sbin/kamailio)}
for tool in node "$KAMAILIO"; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done
[ -d "$E2E_DIR/hepjs/node_modules/hep-js" ] ||
    (cd "$E2E_DIR/hepjs" && timeout 240 npm ci --prefer-offline --no-audit --no-fund \
        --ignore-scripts --loglevel=error) >"$WORK/npm.log" 2>&1 ||
    fail "hep-js is not installed and npm ci failed: $(cat "$WORK/npm.log")"

# send TARGET_URL NAME: every capture through hepagent to TARGET_URL, each
# with its --hep-pcap $WORK/NAME.<capture>.pcap; sets SENT (HEP packets).
send() {
    local url=$1 name=$2 c log n
    SENT=0
    for c in "${CAPTURES[@]}"; do
        log=$WORK/$name.$c.log
        timeout 30 "$HEPAGENT" -c "$CONFIG" -r "$REPO/tests/pcap/media/$c.pcap" -H "$url" \
            --hep-pcap "$WORK/$name.$c.pcap" --stats 2>"$log" ||
            { cat "$log" >&2; fail "hepagent failed on $c.pcap ($name)"; }
        n=$(awk '$1 == "hep_packets" { print $2 }' "$log")
        SENT=$((SENT + n))
    done
}
hep_pcaps() { local c; for c in "${CAPTURES[@]}"; do echo "$WORK/$1.$c.pcap"; done; }

# ---------------------------------------------------------------- hep-js
OUT=$WORK/hepjs.jsonl
timeout -k 2 90 node "$E2E_DIR/hepjs/check.js" --port-file "$WORK/hepjs.port" --out "$OUT" \
    --timeout 60 </dev/null 2>"$WORK/hepjs.stderr" &
RECV_PID=$!
E2E_PIDS+=("$RECV_PID")
wait_for_file "$WORK/hepjs.port" 10
read -r PORT <"$WORK/hepjs.port"
send "udp://127.0.0.1:$PORT" hepjs
wait_for_lines "$OUT" "$SENT" 10 || fail "hep-js received $(wc -l <"$OUT") of $SENT packets"
sleep 0.3
kill -TERM "$RECV_PID" 2>/dev/null || true
wait "$RECV_PID" 2>/dev/null || true
mapfile -t pcaps < <(hep_pcaps hepjs)
"$PY" "$CHECK" hepjs "${pcaps[@]}" -- "$OUT" || fail "hep-js decoded other values than were sent"

# ---------------------------------------------------------------- Kamailio
# start_kam NAME DEFINES...: one Kamailio on a free port; KAM_PID, KAM_PORT, KAM_DIR
start_kam() {
    local name=$1 transport=udp
    shift
    [[ " $* " == *" HEP_TCP "* ]] && transport=tcp
    KAM_DIR=$WORK/kam-$name
    mkdir -p "$KAM_DIR/db" "$KAM_DIR/run"
    cp "$KAM_TEMPLATES"/{sip_capture,rtcp_capture,report_capture,version} "$KAM_DIR/db/"
    KAM_PORT=$(pick_ports 1)
    sed -e "s|@PORT@|$KAM_PORT|g" -e "s|@DBDIR@|$KAM_DIR/db|g" \
        -e "s|@CAPTURE_NODE@|$CAPTURE_NODE|g" "$KAM_TEMPLATES/kamailio.cfg" >"$KAM_DIR/kamailio.cfg"
    local defines=() d
    for d in "$@"; do defines+=(-A "$d"); done
    "$KAMAILIO" -DD -E -m 64 -M 8 "${defines[@]}" -f "$KAM_DIR/kamailio.cfg" -Y "$KAM_DIR/run" \
        -P "$KAM_DIR/run/kamailio.pid" -w "$KAM_DIR" </dev/null >"$KAM_DIR/kamailio.log" 2>&1 &
    KAM_PID=$!
    E2E_PIDS+=("$KAM_PID")
    local i opt=-Hlun
    [ "$transport" = tcp ] && opt=-Hltn
    for ((i = 0; i < 200; i++)); do
        [ -n "$(ss "$opt" "sport = :$KAM_PORT")" ] && return 0
        kill -0 "$KAM_PID" 2>/dev/null || break
        sleep 0.05
    done
    tail -n 20 "$KAM_DIR/kamailio.log" >&2
    fail "kamailio ($name) did not listen on $transport 127.0.0.1:$KAM_PORT"
}

# wait_log PATTERN COUNT: until the Kamailio log holds COUNT of PATTERN (10 s)
wait_log() {
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$({ grep -a -o -- "$1" "$KAM_DIR/kamailio.log" || true; } | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

stop_kam() { # db_text writes its tables at shutdown
    kill -TERM "$KAM_PID" 2>/dev/null || true
    wait_exit "$KAM_PID" 15 || fail "kamailio did not exit within 15 s of SIGTERM"
}

count_type() { # count_type NAME TYPE: HEP packets of TYPE in NAME's --hep-pcaps
    local pcaps
    mapfile -t pcaps < <(hep_pcaps "$1")
    "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import media_receivers as m
print(sum(1 for p in sys.argv[3:] for h in m.hep_packets(p) if h["type"] == int(sys.argv[2], 0)))' \
        "$E2E_DIR" "$2" "${pcaps[@]}"
}

# UDP, the plain SIP configuration: RTCP stored by sipcapture itself
start_kam udp
send "udp://127.0.0.1:$KAM_PORT" kam-udp
sip=$(count_type kam-udp 1)
reports=$(count_type kam-udp 0x22)
wait_log E2E-STORED "$sip" || fail "kamailio (udp) stored fewer than $sip SIP messages"
wait_log "core parsing of SIP message failed" "$reports" ||
    fail "kamailio (udp): expected its SIP parser to refuse each of the $reports QoS reports"
sleep 0.3
stop_kam
mapfile -t pcaps < <(hep_pcaps kam-udp)
"$PY" "$CHECK" kamailio "$KAM_DIR/db/rtcp_capture" 5 "$CAPTURE_NODE:$CAPTURE_ID" "${pcaps[@]}" ||
    fail "kamailio (udp): rtcp_capture differs from the RTCP packets sent"
[ "$(grep -c . "$KAM_DIR/db/report_capture")" = 1 ] || fail "kamailio (udp) stored QoS reports"
note "kamailio (udp): $reports QoS reports refused by its SIP parser, as expected (nothing stored)"

# TCP with the event route: both kinds through report_capture()
start_kam tcp HEP_TCP MEDIA_REPORTS
send "tcp://127.0.0.1:$KAM_PORT" kam-tcp
rtcp=$(count_type kam-tcp 5)
reports=$(count_type kam-tcp 0x22)
wait_log "E2E-REPORT 5" "$rtcp" || fail "kamailio (tcp) handled fewer than $rtcp RTCP packets"
wait_log "E2E-REPORT 34" "$reports" || fail "kamailio (tcp) handled fewer than $reports QoS reports"
sleep 0.3
stop_kam
mapfile -t pcaps < <(hep_pcaps kam-tcp)
"$PY" "$CHECK" kamailio --report "$KAM_DIR/db/rtcp_capture" 5 - "${pcaps[@]}" ||
    fail "kamailio (tcp): rtcp_capture differs from the RTCP packets sent"
"$PY" "$CHECK" kamailio --report "$KAM_DIR/db/report_capture" 0x22 - "${pcaps[@]}" ||
    fail "kamailio (tcp): report_capture differs from the QoS reports sent"
note "PASS media receivers: hep-js, Kamailio sipcapture over UDP and TCP"
