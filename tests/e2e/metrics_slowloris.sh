#!/usr/bin/env bash
# A slow-loris attack on the metrics endpoint while hepagent captures, in a
# network namespace of its own. Four attacking addresses, 8 connections each,
# reopened as soon as the server ends them, for 13 s; the kinds sweep the
# timing: a header byte every 0.1 s, a header byte every 4 s (just under the
# 5 s idle timeout), silent connections, a POST body byte every 0.5 s.
# Meanwhile SIP at 1000 msg/s is captured and /metrics scraped every 0.25 s
# from another address. Must hold:
#   * capture keeps up: every message sent reaches the collector (over TCP,
#     so the sink's socket cannot drop what hepagent delivered);
#   * every scrape answers (HTTP 200, a parseable exposition) within 1 s;
#   * one address never holds more than 4 connections open for over 2 s
#     (the server turns the others away as soon as its loop gets to them),
#     and the server never has more than 4 x 4 + the scraper's open;
#   * the server ends every kind of attacking connection: silent ones by the
#     idle timeout (~5 s), trickling ones by the 10 s deadline.
NETNS_NAME=i12-loris source "$(dirname "$0")/netns.sh" "$@"
source "$(dirname "$0")/lib.sh" "$@"

read -r SIP_PORT MPORT <<<"$(pick_ports 2)"
start_sink sink -t 0 # TCP: what the sink lacks, hepagent did not deliver
LOG=$WORK/agent.log
cat >"$WORK/cfg.json" <<EOF
{
    "capture": [ { "interface": "lo", "bpf": "udp port $SIP_PORT", "buffer_mb": 8 } ],
    "rules": [ { "name": "sip", "ports": [$SIP_PORT], "action": "send" } ],
    "collectors": [ { "url": "tcp://127.0.0.1:$SINK_TCP_PORT" } ]
}
EOF
"$HEPAGENT" -c "$WORK/cfg.json" --metrics "127.0.0.1:$MPORT" --stats 2>"$LOG" &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q "metrics on http" "$LOG" && break
    sleep 0.05
done
grep -q "metrics on http" "$LOG" || { cat "$LOG" >&2; fail "hepagent did not start"; }

LORIS_S=13
"$PYTHON" "$E2E_DIR/slowloris.py" 127.0.0.1 "$MPORT" $LORIS_S "$WORK/loris.json" \
    127.0.0.2:8:headers:0.1 127.0.0.3:8:headers:4 127.0.0.4:8:silent 127.0.0.5:8:body:0.5 &
LORIS=$!
E2E_PIDS+=("$LORIS")
sleep 0.5
MESSAGES=10000
"$PYTHON" "$E2E_DIR/sipgen.py" "$SIP_PORT" loris- $MESSAGES 1000 >"$WORK/sipgen.out" &
GEN=$!
E2E_PIDS+=("$GEN")

# scrapes every 0.25 s while the attack goes on; ss shows who holds what
: >"$WORK/scrapes.txt"
end=$((SECONDS + LORIS_S - 1))
n=0
while ((SECONDS < end)); do
    n=$((n + 1))
    out=$(curl -sS --max-time 1 -o "$WORK/scrape.txt" -w '%{http_code} %{time_total}' \
        "http://127.0.0.1:$MPORT/metrics" 2>&1) || fail "scrape $n failed during the attack: $out"
    echo "$out" >>"$WORK/scrapes.txt"
    [ "${out%% *}" = 200 ] || fail "scrape $n: HTTP ${out%% *}"
    grep -q '^hepagent_frames_total [0-9]' "$WORK/scrape.txt" || fail "scrape $n: no frames counter"
    sed -n 's/^hepagent_metrics_connections \([0-9]*\)$/\1/p' "$WORK/scrape.txt" >>"$WORK/open.txt"
    sleep 0.25
done
"$PYTHON" - "$WORK/scrape.txt" <<'PY' || fail "the last scrape does not parse"
import sys
from prometheus_client.parser import text_string_to_metric_families
n = sum(1 for _ in text_string_to_metric_families(open(sys.argv[1]).read()))
assert n > 20, n
PY
wait "$LORIS" || fail "slowloris.py failed"
wait "$GEN"
if ! wait_for_lines "$WORK/sink.jsonl" $MESSAGES 10; then
    kill -USR1 "$AGENT_PID"
    sleep 0.5
    grep -E 'sip_messages|kernel_dropped|\.sent |dropped_queue' "$LOG" >&2
    fail "capture fell behind: the collector got $(wc -l <"$WORK/sink.jsonl") of $MESSAGES messages"
fi
curl -sS --max-time 1 "http://127.0.0.1:$MPORT/metrics" >"$WORK/final.txt" || fail "final scrape failed"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
[ "$WAIT_RC" = 0 ] || { cat "$LOG" >&2; fail "exit $WAIT_RC, want 0"; }

most_open=$(sort -n "$WORK/open.txt" | tail -n 1)
note "most connections open at the server during a scrape: $most_open"
((most_open <= 17)) || fail "the server had $most_open connections open, the limit is 4 per address"
slowest=$(awk '{ print $2 }' "$WORK/scrapes.txt" | sort -g | tail -n 1)
median=$(awk '{ print $2 }' "$WORK/scrapes.txt" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
note "$n scrapes during the attack, all answered: median ${median}s, slowest ${slowest}s"
"$PYTHON" - "$WORK/loris.json" <<'PY' || fail "the server did not end the attacking connections in time"
import json, sys
ok = True
for g in json.load(open(sys.argv[1])):
    limit = 7.0 if g["kind"] == "silent" else 12.0  # idle timeout 5 s, deadline 10 s, sweep 1 s
    line = (f"   {g['src']} {g['kind']}:{g['interval']}: opened {g['opened']}, ended by the server "
            f"{g['ended']}, lifetimes {g['min_lifetime']}..{g['max_lifetime']} s, "
            f"at most {g['max_held']} held at once")
    print(line)
    if g["ended"] == 0 or g["max_lifetime"] > limit or g["max_held"] > 4:
        print(f"   ^ want ended > 0, lifetimes <= {limit} s, at most 4 held", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY
deadline=$(sed -n 's/^hepagent_metrics_deadline_closed_total \([0-9]*\)$/\1/p' "$WORK/final.txt")
((deadline > 0)) || fail "no connection was ended by the deadline"
note "capture kept up: $MESSAGES/$MESSAGES delivered, $(grep 'kernel_dropped' "$LOG"); deadline ended $deadline"
note PASS
