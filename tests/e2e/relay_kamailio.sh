#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end: Kamailio's siptrace as a real HEP sender, Kamailio's
# sipcapture as a real receiver. SIPp places calls through a Kamailio proxy
# (tests/e2e/kamailio/siptrace.cfg, no database) that mirrors every message
# it receives and sends as HEPv3 to a hepagent relay, once over UDP and once
# over TCP; the relay forwards to hep_sink and to a second Kamailio running
# sipcapture into db_text (tests/e2e/kamailio/kamailio.cfg). What the proxy
# really sent is taken from the wire with tcpdump (the TCP stream
# reassembled and cut by the HEP length): every one of those packets must
# reach the sink exactly once, unchanged, sipcapture must store one row per
# packet with the same Call-IDs, and the calls must succeed.

KAMAILIO=${KAMAILIO:-$(command -v kamailio || echo /usr/sbin/kamailio)}
[ -x "$KAMAILIO" ] || fail "kamailio not found (Debian package kamailio)"
for tool in sipp tcpdump ss; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian: sip-tester tcpdump iproute2)"
done
CALLS=${CALLS:-10}
CHECK="$PYTHON $E2E_DIR/relay_check.py"

cat >"$WORK/wire.py" <<'EOF'
# wire.py PCAP PORT OUT.json: the HEP packets sent to PORT (UDP datagrams, or
# the TCP stream reassembled by sequence number and cut by the HEP length)
import json, struct, sys
sys.path[:0] = sys.argv[4].split(":")
import pcapfile, relay_check
cap = pcapfile.read_pcap_file(sys.argv[1])
port = int(sys.argv[2])
packets, streams = [], {}
for r in cap.records:
    f = r.frame
    l3 = 14 if cap.linktype == 1 else 16  # Ethernet, or Linux cooked on "any"
    if f[l3] >> 4 != 4:
        continue
    ihl = (f[l3] & 15) * 4
    proto = f[l3 + 9]
    l4 = l3 + ihl
    sport, dport = struct.unpack(">HH", f[l4:l4 + 4])
    if dport != port:
        continue
    if proto == 17:
        packets.append(f[l4 + 8:])
    elif proto == 6:
        seq = struct.unpack(">I", f[l4 + 4:l4 + 8])[0]
        data = f[l4 + (f[l4 + 12] >> 4) * 4:]
        if data:
            streams.setdefault(sport, {})[seq] = data
for segs in streams.values():
    s = b"".join(segs[k] for k in sorted(segs))
    off = 0
    while off + 6 <= len(s):
        n = struct.unpack(">H", s[off + 4:off + 6])[0]
        packets.append(s[off:off + n])
        off += n
json.dump([relay_check.record(relay_check.hep_chunks(p)) for p in packets], open(sys.argv[3], "w"))
print(len(packets))
EOF

cat >"$WORK/rows.py" <<'EOF'
# rows.py SIP_CAPTURE EXPECT.json: sipcapture's db_text rows against what was sent
import collections, json, re, sys
rows = open(sys.argv[1], encoding="latin1").read().split("\n")
head = [c.split("(")[0] for c in rows[0].split(" ")]
cid = head.index("callid")
# db_text: ':' between columns, "\:" inside one
got = collections.Counter(re.split(r"(?<!\\):", r)[cid] for r in rows[1:] if r)
# siptrace sends no correlation id: the Call-ID is the payload's
want = collections.Counter(
    re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)", bytes.fromhex(r["payload"])).group(1)
    .decode("latin1") for r in json.load(open(sys.argv[2])))
if got != want:
    sys.exit("sipcapture stored %d rows, want %d (%d Call-IDs differ)" %
             (sum(got.values()), sum(want.values()), len(set(got) ^ set(want))))
print("sipcapture stored the %d packets, Call-IDs as sent" % sum(got.values()))
EOF

# run TRANSPORT: one Kamailio, one relay, one sink, CALLS calls
run() {
    local tr=$1 dir=$WORK/$1 p_kam p_uas p_uac p_relay p_sink mk mu
    mkdir -p "$dir"
    read -r p_kam p_uas p_uac p_relay p_sink mk mu p_cap <<<"$(pick_ports 8)"
    # the receiver: Kamailio sipcapture (HEP over UDP) into db_text files
    mkdir -p "$dir/cap/db" "$dir/cap/run"
    cp "$E2E_DIR/kamailio/sip_capture" "$E2E_DIR/kamailio/version" "$dir/cap/db/"
    sed -e "s|@PORT@|$p_cap|g" -e "s|@DBDIR@|$dir/cap/db|g" -e "s|@CAPTURE_NODE@|relayed|g" \
        "$E2E_DIR/kamailio/kamailio.cfg" >"$dir/cap/kamailio.cfg"
    "$KAMAILIO" -DD -E -m 64 -M 8 -f "$dir/cap/kamailio.cfg" -Y "$dir/cap/run" \
        -P "$dir/cap/run/kamailio.pid" -w "$dir/cap" </dev/null >"$dir/cap/kamailio.log" 2>&1 &
    local capk=$!
    E2E_PIDS+=($capk)
    "$HEP_SINK" -u "$p_sink" -o "$dir/sink.jsonl" -T 60000 2>"$dir/sink.err" &
    E2E_PIDS+=($!)
    cat >"$dir/relay.json" <<EOF
{ "capture": [], "inputs": [{"url": "$tr://127.0.0.1:$p_relay", "name": "kamailio"}],
  "rules": [{"name": "all", "inputs": ["kamailio"]}],
  "collectors": [{"url": "udp://127.0.0.1:$p_sink"}, {"url": "udp://127.0.0.1:$p_cap"}] }
EOF
    for ((i = 0; i < 200; i++)); do
        [ -n "$(ss -Hlun "sport = :$p_cap")" ] && break
        sleep 0.05
    done
    "$HEPAGENT" -c "$dir/relay.json" --stats 2>"$dir/relay.stats" &
    AGENT_PID=$!
    tcpdump -i lo -U -s 0 -w "$dir/wire.pcap" "$tr port $p_relay" 2>"$dir/tcpdump.err" &
    local dump=$!
    E2E_PIDS+=($dump)
    local uri="sip:127.0.0.1:$p_relay"
    [ "$tr" = tcp ] && uri="$uri;transport=tcp"
    sed -e "s|@PORT@|$p_kam|g" -e "s|@UAS_PORT@|$p_uas|g" -e "s|@HEP_URI@|$uri|g" \
        "$E2E_DIR/kamailio/siptrace.cfg" >"$dir/kamailio.cfg"
    mkdir -p "$dir/run"
    "$KAMAILIO" -DD -E -m 64 -M 8 -f "$dir/kamailio.cfg" -Y "$dir/run" \
        -P "$dir/run/kamailio.pid" -w "$dir" </dev/null >"$dir/kamailio.log" 2>&1 &
    local kam=$!
    E2E_PIDS+=($kam)
    for ((i = 0; i < 200; i++)); do
        [ -n "$(ss -Hlun "sport = :$p_kam")" ] && [ -n "$(ss -Hltn "sport = :$p_relay")$(ss -Hlun "sport = :$p_relay")" ] &&
            grep -q "listening on" "$dir/tcpdump.err" && break
        sleep 0.05
    done
    local common=(-t u1 -i 127.0.0.1 -nostdin -m "$CALLS")
    (cd "$dir" && exec timeout 60 sipp -sn uas "${common[@]}" -p "$p_uas" -mp "$mu" \
        </dev/null >uas.out 2>&1) &
    local uas=$!
    E2E_PIDS+=($uas)
    for ((i = 0; i < 100; i++)); do
        [ -n "$(ss -Hlun "sport = :$p_uas")" ] && break
        sleep 0.05
    done
    (cd "$dir" && exec timeout 60 sipp -sn uac "127.0.0.1:$p_kam" "${common[@]}" -p "$p_uac" \
        -mp "$mk" -r 10 -timeout 40s -timeout_error </dev/null >uac.out 2>&1) ||
        { tail -n 20 "$dir/uac.out" "$dir/kamailio.log" >&2; fail "$tr: SIPp calls through Kamailio failed"; }
    wait_exit "$uas" 20 || true
    sleep 1
    kill -TERM "$kam" 2>/dev/null || true
    wait_exit "$kam" 10 || kill -KILL "$kam" 2>/dev/null || true
    sleep 0.5
    kill -TERM "$AGENT_PID"
    wait_exit "$AGENT_PID" 10 || fail "$tr: the relay did not stop"
    AGENT_PID=
    [ "$WAIT_RC" = 0 ] || fail "$tr: the relay exited $WAIT_RC: $(tail -5 "$dir/relay.stats")"
    kill -TERM "$dump" 2>/dev/null || true
    wait_exit "$dump" 5 || true
    local n
    n=$($PYTHON "$dir/../wire.py" "$dir/wire.pcap" "$p_relay" "$dir/expect.json" "$E2E_DIR/../tools:$E2E_DIR") ||
        fail "$tr: reading what Kamailio sent failed"
    # 12 per call as a rule (INVITE, 100, 180, 200, ACK, BYE, 200 in and out);
    # over TCP Kamailio sometimes traces one less: what it sent is the reference
    [ "$n" -ge $((CALLS * 10)) ] || fail "$tr: Kamailio sent only $n HEP packets for $CALLS calls"
    $CHECK compare "$dir/expect.json" "$dir/sink.jsonl" || fail "$tr: see above"
    # sipcapture: one row per packet, written when it stops (db_text)
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -ac "E2E-STORED" "$dir/cap/kamailio.log")" -ge "$n" ] && break
        sleep 0.05
    done
    kill -TERM "$capk" 2>/dev/null || true
    wait_exit "$capk" 15 || fail "$tr: sipcapture did not stop"
    $PYTHON "$dir/../rows.py" "$dir/cap/db/sip_capture" "$dir/expect.json" ||
        fail "$tr: sipcapture rows differ"
    note "$tr: Kamailio siptrace sent $n HEP packets for $CALLS calls; each relayed once"
}

run udp
run tcp
echo "PASS"
