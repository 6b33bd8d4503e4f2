#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# Live capture on loopback of SIPp calls with real media. A SIPp UAC places
# CALLS calls at once and plays sip-tester's recorded G.711 A-law RTP
# (g711a.pcap, 236 packets) and an RFC 4733 DTMF digit into each
# (play_pcap_audio); the SIPp UAS echoes every RTP packet back (-rtp_echo),
# all calls on its one media port. hepagent captures "lo" with media.rtcp and
# media.qos on and grace_ms 1000; tcpdump records the same traffic.
#
# Once the calls have ended (BYE) and their grace time has passed, each RTP
# stream must have had its final QoS report, made because its call ended
# (the agent's clock moves without packets), equal to what tshark's RTP
# stream analysis finds in tcpdump's capture (check_media.py --sink), with
# the Call-ID of the call whose SDP set it up; the SIP went as before.
#
# Needs: sipp (Debian sip-tester, with its pcaps), tcpdump, tshark, python3.

CALLS=3
SIPP_PCAPS=${SIPP_PCAPS:-/usr/share/sip-tester}
for tool in sipp tcpdump tshark; do command -v "$tool" >/dev/null || fail "$tool not found"; done
[ -f "$SIPP_PCAPS/g711a.pcap" ] || fail "no $SIPP_PCAPS/g711a.pcap (Debian package sip-tester)"

read -r UAS UAC MEDIA_UAS MEDIA_UAC <<<"$(pick_ports 4)"
note "ports: SIP UAS $UAS / UAC $UAC, media UAS $MEDIA_UAS / UAC $MEDIA_UAC+"

start_sink live -u 0
CFG=$WORK/live_media.json
cat >"$CFG" <<EOF
{
    "capture": [ { "interface": "lo" } ],
    "rules": [ { "name": "sipp", "ports": [$UAS, $UAC], "transport": ["udp"] } ],
    "collectors": [ { "url": "udp://127.0.0.1:$SINK_UDP_PORT" } ],
    "media": { "rtcp": true, "qos": true, "grace_ms": 1000 }
}
EOF
"$HEPAGENT" -c "$CFG" --stats 2>"$WORK/agent.log" &
AGENT_PID=$!
E2E_PIDS+=("$AGENT_PID")
# everything of the SIPp ports and the media ports, as tshark's ground truth
tcpdump -i lo -U -w "$WORK/live.pcap" \
    "udp and (port $UAS or port $UAC or portrange $MEDIA_UAS-$((MEDIA_UAS + 3)) or portrange $MEDIA_UAC-$((MEDIA_UAC + 40)))" \
    2>"$WORK/tcpdump.log" &
DUMP_PID=$!
E2E_PIDS+=("$DUMP_PID")
for ((i = 0; i < 100; i++)); do
    grep -q "capturing on" "$WORK/agent.log" && grep -q "listening on" "$WORK/tcpdump.log" && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log" >&2; fail "hepagent exited at start"; }
    sleep 0.05
done
((i < 100)) || fail "hepagent or tcpdump did not start within 5 s"

# the UAC of sip-tester's uac_pcap scenario, with the pcaps where Debian puts them
# (sipp -sd exits 99 after printing it)
{ sipp -sd uac_pcap || true; } | sed -e "s|pcap/g711a.pcap|$SIPP_PCAPS/g711a.pcap|" \
    -e "s|pcap/dtmf_2833_1.pcap|$SIPP_PCAPS/dtmf_2833_1.pcap|" \
    -e 's|<pause milliseconds="8000"/>|<pause milliseconds="7300"/>|' >"$WORK/uac_media.xml"
(cd "$WORK" && exec timeout 60 sipp -sn uas -i 127.0.0.1 -p "$UAS" -mp "$MEDIA_UAS" -rtp_echo \
    -nostdin -m "$CALLS" </dev/null >uas.out 2>&1) &
UAS_PID=$!
E2E_PIDS+=("$UAS_PID")
for ((i = 0; i < 100; i++)); do
    ss -Hlun "sport = :$UAS" | grep -q . && break
    sleep 0.05
done
rc=0
(cd "$WORK" && exec timeout 60 sipp "127.0.0.1:$UAS" -sf uac_media.xml -i 127.0.0.1 -p "$UAC" \
    -mp "$MEDIA_UAC" -nostdin -m "$CALLS" -l "$CALLS" -r "$CALLS" </dev/null >uac.out 2>&1) || rc=$?
[ "$rc" = 0 ] || { tail -n 30 "$WORK/uac.out" >&2; fail "SIPp UAC exited with $rc"; }
wait_exit "$UAS_PID" 15 || fail "SIPp UAS still running"
note "$CALLS SIPp calls with media done"

# the calls ended with BYE: after grace_ms (1 s) and a tick of the agent's
# clock their streams report; wait for them (4 streams a call: audio and DTMF
# each way), then stop
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '"ptype":34' "$WORK/live.jsonl" 2>/dev/null || true)" -ge $((4 * CALLS)) ] && break
    sleep 0.05
done
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
kill -TERM "$DUMP_PID" 2>/dev/null || true
wait "$DUMP_PID" 2>/dev/null || true
stop_sink
grep -E "^(media|qos)\.(calls|calls_bye|streams|rtp_packets|reports_final|packets) " "$WORK/agent.log" |
    sed 's/^/   agent: /' || true

"$PYTHON" "$REPO/tests/pcap/check_media.py" "$BUILD" "$WORK/live.pcap" --sink "$WORK/live.jsonl" \
    --reason call_end || fail "what hepagent sent live differs from tshark's view of the traffic"
[ "$(grep -c '"ptype":34' "$WORK/live.jsonl")" -ge $((4 * CALLS)) ] ||
    fail "fewer than $((4 * CALLS)) QoS reports"
note "PASS live media: $CALLS SIPp calls, every RTP stream reported at its call's end as tshark measures it"
