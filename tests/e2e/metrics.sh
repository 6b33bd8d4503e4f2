#!/usr/bin/env bash
# The metrics endpoint during a live capture, in a network namespace of its
# own (so no other traffic on its loopback changes a counter):
#   * the endpoint from the config's stats.listen (metrics_slowloris.sh
#     uses --metrics); SIP to three ports: one rule sends, one drops, the third matches none;
#     two collectors (UDP and TCP) at hep_sink; a reload in the middle (the
#     per-rule counts carry over) and a failed reload;
#   * /metrics scraped while traffic runs (each scrape parses, no counter goes
#     down), then /metrics and /stats once traffic stopped and SIGTERM:
#     every value equal to the run's --stats (tests/e2e/metrics_check.py,
#     with prometheus_client's parser), and the counts that must be known:
#     per rule, unmatched, reloads ok/failed, per collector, build info.
NETNS_NAME=i12-metrics source "$(dirname "$0")/netns.sh" "$@"
source "$(dirname "$0")/lib.sh" "$@"
"$PYTHON" -c 'import prometheus_client' 2>/dev/null ||
    fail "python3-prometheus-client is missing (scripts/install-deps.sh)"

read -r PORT_A PORT_B PORT_C MPORT <<<"$(pick_ports 4)"
start_sink sink -u 0 -t 0
CFG=$WORK/cfg.json
cat >"$CFG" <<EOF
{
    "agent": { "log_level": "info", "shutdown_timeout_ms": 2000 },
    "capture": [ { "interface": "lo", "snaplen": 65535, "buffer_mb": 4,
                   "bpf": "udp and (port $PORT_A or port $PORT_B or port $PORT_C)" } ],
    "rules": [ { "name": "send-a", "ports": [$PORT_A], "action": "send" },
               { "name": "drop-b", "ports": [$PORT_B], "action": "drop" } ],
    "collectors": [ { "url": "udp://127.0.0.1:$SINK_UDP_PORT" },
                    { "url": "tcp://127.0.0.1:$SINK_TCP_PORT" } ],
    "stats": { "listen": "127.0.0.1:$MPORT" }
}
EOF
LOG=$WORK/agent.log
"$HEPAGENT" -c "$CFG" --stats 2>"$LOG" &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q "metrics on http://127.0.0.1:$MPORT/metrics" "$LOG" && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$LOG" >&2; fail "hepagent died"; }
    sleep 0.05
done
scrape() { curl -sS --max-time 2 -o "$2" "http://127.0.0.1:$MPORT/$1" || fail "scrape of /$1 failed"; }

# traffic, scraped while it runs
"$PYTHON" "$E2E_DIR/sipgen.py" "$PORT_A" a1- 300 1000 >/dev/null &
GEN_A=$!
"$PYTHON" "$E2E_DIR/sipgen.py" "$PORT_B" b- 100 300 >/dev/null &
GEN_B=$!
"$PYTHON" "$E2E_DIR/sipgen.py" "$PORT_C" c- 50 150 >/dev/null &
GEN_C=$!
earlier=()
for k in 1 2 3 4 5; do
    sleep 0.05
    scrape metrics "$WORK/during-$k.txt"
    earlier+=("$WORK/during-$k.txt")
done
wait "$GEN_A" "$GEN_B" "$GEN_C"
wait_for_lines "$WORK/sink.jsonl" 600 10 || fail "the sink got $(wc -l <"$WORK/sink.jsonl") of 600 packets"

kill -HUP "$AGENT_PID" # the same config: the rule counts go on
for ((i = 0; i < 100; i++)); do grep -q "reloaded" "$LOG" && break; sleep 0.05; done
"$PYTHON" "$E2E_DIR/sipgen.py" "$PORT_A" a2- 100 1000 >/dev/null
wait_for_lines "$WORK/sink.jsonl" 800 10 || fail "the sink got $(wc -l <"$WORK/sink.jsonl") of 800 packets"
cp "$CFG" "$CFG.good"
echo '{' >"$CFG"
kill -HUP "$AGENT_PID"
for ((i = 0; i < 100; i++)); do grep -q "reload failed" "$LOG" && break; sleep 0.05; done
sleep 0.3 # the sink has everything; let the TCP acknowledgements settle

scrape metrics "$WORK/metrics.txt"
scrape stats "$WORK/stats.json"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
[ "$WAIT_RC" = 0 ] || { cat "$LOG" >&2; fail "exit $WAIT_RC, want 0"; }

"$PYTHON" "$E2E_DIR/metrics_check.py" "$LOG" "$WORK/metrics.txt" "$WORK/stats.json" "${earlier[@]}" ||
    { cat "$WORK/metrics.txt" >&2; fail "/metrics, /stats and --stats differ"; }
want() { # SAMPLE VALUE
    grep -qxF -- "$1 $2" "$WORK/metrics.txt" ||
        fail "want '$1 $2' in /metrics, have: $(grep -F -- "${1%%\{*}" "$WORK/metrics.txt" | grep -v '^#' | tr '\n' ' ')"
}
want 'hepagent_rule_matched_total{rule="send-a"}' 400
want 'hepagent_rule_matched_total{rule="drop-b"}' 100
want hepagent_rules_unmatched_total 50
want hepagent_rules_sent_total 400
want hepagent_reloads_ok_total 1
want hepagent_reloads_failed_total 1
want "hepagent_collector_sent_total{collector=\"udp://127.0.0.1:$SINK_UDP_PORT\"}" 400
want "hepagent_collector_sent_total{collector=\"tcp://127.0.0.1:$SINK_TCP_PORT\"}" 400
want "hepagent_collector_queue_packets{collector=\"tcp://127.0.0.1:$SINK_TCP_PORT\"}" 0
want "hepagent_build_info{version=\"$("$HEPAGENT" -V | cut -d' ' -f2)\"}" 1
grep -q '^hepagent_interface_kernel_dropped_total{interface="lo"} [0-9]*$' "$WORK/metrics.txt" ||
    fail "no kernel drops per interface"
grep -q '^# TYPE hepagent_process_uptime_seconds gauge$' "$WORK/metrics.txt" || fail "no uptime gauge"
note "per rule: send-a 400 (across a reload), drop-b 100; unmatched 50; reloads 1 ok, 1 failed"
stop_sink
note "PASS: $(grep -vc '^#' "$WORK/metrics.txt") samples"
