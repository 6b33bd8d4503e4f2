#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# Secrets never leave through a side door: the HEP auth key and the TLS
# private key must not appear in any output hepagent makes, at any log level.
#
# Every output of these runs is kept and grepped: -t -v; a live capture on lo
# at debug level (-v) with --stats, SIGUSR1, a SIGHUP reload, a failed reload
# and the metrics endpoint (/metrics, /stats) when one is configured; and the
# error of each config that is wrong about the secrets themselves (too long,
# not a string, a NUL inside, a JSON syntax error right after it, an invalid
# escape inside it, a key file that is garbage holding the auth key, a key
# that does not match its certificate). The test also checks that the secret
# is really in use: the sink receives it in every HEP packet (chunk 0x000e).

SECRET=s3cr3t-$RANDOM$RANDOM-authkey-$RANDOM
OUT=$WORK/out
mkdir -p "$OUT"
read -r SIP_PORT DEAD_PORT METRICS_PORT <<<"$(pick_ports 3)"
start_sink secrets -u 0

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -subj /CN=hepagent-secrets-test -days 1 2>/dev/null || fail "openssl cannot make a key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/other.pem" -out "$WORK/othercert.pem" \
    -subj /CN=other -days 1 2>/dev/null || fail "openssl cannot make a key"
# the key's secret lines: its base64 body, and the private exponent as openssl prints it
grep -v -- '-----' "$WORK/key.pem" >"$WORK/key.lines"
grep -v -- '-----' "$WORK/other.pem" >>"$WORK/key.lines"
printf 'garbage\n%s\n%s\n' "$SECRET" "$(sed -n 2p "$WORK/key.pem")" >"$WORK/garbage.pem"

# config AUTH_JSON [KEY_FILE [CERT_FILE]]: AUTH_JSON is the agent.auth_key value as JSON text
config() {
    cat <<EOF
{
    "agent": { "auth_key": $1, "log_level": "debug", "shutdown_timeout_ms": 300 },
    "capture": [ { "interface": "lo", "snaplen": 65535, "buffer_mb": 2 } ],
    "rules": [ { "name": "sip", "ports": [$SIP_PORT], "action": "send" } ],
    "collectors": [
        { "url": "udp://127.0.0.1:$SINK_UDP_PORT" },
        { "url": "tls://127.0.0.1:$DEAD_PORT",
          "tls": { "insecure": true, "cert_file": "${3:-$WORK/cert.pem}", "key_file": "${2:-$WORK/key.pem}" } }
    ],
    "stats": { "listen": "127.0.0.1:$METRICS_PORT", "interval_s": 1 }
}
EOF
}
config "\"$SECRET\"" >"$WORK/good.json"

# ---- a run that uses the secrets ---------------------------------------------
"$HEPAGENT" -t -v -c "$WORK/good.json" >"$OUT/check.stdout" 2>"$OUT/check.stderr" ||
    { cat "$OUT/check.stderr" >&2; fail "-t rejects the good config"; }
"$HEPAGENT" -v --stats -c "$WORK/good.json" >"$OUT/run.stdout" 2>"$OUT/run.stderr" &
AGENT_PID=$!
wait_for_lines "$OUT/run.stderr" 1 5
for ((i = 0; i < 100; i++)); do
    grep -q "capturing on" "$OUT/run.stderr" && break
    sleep 0.05
done
"$PYTHON" "$E2E_DIR/sipgen.py" "$SIP_PORT" sec 5 1000 >/dev/null
wait_for_lines "$WORK/secrets.jsonl" 5 5 || fail "the sink did not get the 5 messages"
kill -USR1 "$AGENT_PID"
kill -HUP "$AGENT_PID"
sleep 0.3
config '"x'"$SECRET"'\q"' >"$WORK/bad-reload.json"
cp "$WORK/bad-reload.json" "$WORK/good.json"
kill -HUP "$AGENT_PID"
sleep 0.3
curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" >"$OUT/metrics.txt" || fail "scrape failed"
curl -sS "http://127.0.0.1:$METRICS_PORT/stats" >"$OUT/stats.json" || fail "scrape failed"
sleep 1.2 # one interval_s summary line
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
grep -q "reload failed" "$OUT/run.stderr" || fail "the bad reload did not fail"
n=$(grep -c "\"auth\":\"$SECRET\"" "$WORK/secrets.jsonl" || true)
[ "$n" = 5 ] || fail "the sink got the auth key in $n of 5 packets: the secret is not in use"

# ---- configs that are wrong about the secrets --------------------------------
LONG=$(printf "$SECRET%.0s" {1..12}) # longer than 255 characters
bad=0
while IFS='|' read -r name auth keyfile certfile; do
    config "$auth" "${keyfile:+$WORK/$keyfile}" "${certfile:+$WORK/$certfile}" >"$WORK/$name.json"
    rc=0
    "$HEPAGENT" -t -v -c "$WORK/$name.json" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || rc=$?
    [ "$rc" = 2 ] || { cat "$OUT/$name.stderr" >&2; fail "$name: -t exited $rc, want 2"; }
    # a start with the same file fails the same way
    "$HEPAGENT" -v -c "$WORK/$name.json" >"$OUT/$name.start.stdout" 2>"$OUT/$name.start.stderr" || true
    note "$name: $(head -c 200 "$OUT/$name.stderr")"
    bad=$((bad + 1))
done <<EOF
too_long|"$LONG"
not_string|["$SECRET"]
nul_inside|"$SECRET\\u0000$SECRET"
syntax_after|"$SECRET" "oops"
bad_escape|"$SECRET\\q"
garbage_key|"$SECRET"|garbage.pem
mismatched_key|"$SECRET"|other.pem
EOF

# a key protected by a pass phrase: refused at once, even on a terminal (where
# OpenSSL would otherwise prompt and block the loop)
openssl req -x509 -newkey rsa:2048 -passout "pass:$SECRET" -keyout "$WORK/enc.pem" \
    -out "$WORK/enccert.pem" -subj /CN=enc -days 1 2>/dev/null || fail "openssl cannot make a key"
grep -v -- '-----' "$WORK/enc.pem" | grep -v ':' >>"$WORK/key.lines"
config "\"$SECRET\"" "$WORK/enc.pem" "$WORK/enccert.pem" >"$WORK/encrypted.json"
rc=0
timeout 10 script -qec "'$HEPAGENT' -t -c '$WORK/encrypted.json'" /dev/null </dev/null >"$OUT/encrypted.tty" 2>&1 || rc=$?
[ "$rc" = 2 ] || { cat "$OUT/encrypted.tty" >&2; fail "an encrypted key on a terminal: exit $rc, want 2 (124: it waited for a pass phrase)"; }
! grep -qi "pass phrase:" "$OUT/encrypted.tty" || fail "hepagent prompted for a pass phrase"
note "encrypted_key: $(head -c 200 "$OUT/encrypted.tty")"

# ---- every output, grepped ----------------------------------------------------
files=$(find "$OUT" -type f | sort)
[ "$(echo "$files" | wc -l)" -ge $((4 + 4 * bad)) ] || fail "fewer outputs than runs"
grep -q "capturing on" "$OUT/run.stderr" || fail "the run did not capture"
grep -q "debug" "$OUT/run.stderr" || fail "the run did not log at debug level"
grep -q "stats: frames" "$OUT/run.stderr" || fail "the run did not log a summary line"
grep -q "^hepagent_frames_total" "$OUT/metrics.txt" || fail "the /metrics scrape is empty"
leaks=0
# the whole secret, and any 12-character piece of it (an error that cuts or
# quotes part of the value leaks too)
for ((k = 0; k + 12 <= ${#SECRET}; k += 4)); do
    piece=${SECRET:k:12}
    if grep -lF -- "$piece" $files >"$WORK/hits"; then
        echo "auth key piece '$piece' found in: $(tr '\n' ' ' <"$WORK/hits")" >&2
        leaks=$((leaks + 1))
    fi
done
while read -r line; do
    [ ${#line} -ge 16 ] || continue
    if grep -lF -- "${line:0:16}" $files >"$WORK/hits"; then
        echo "TLS key material '${line:0:16}...' found in: $(tr '\n' ' ' <"$WORK/hits")" >&2
        leaks=$((leaks + 1))
    fi
done <"$WORK/key.lines"
[ "$leaks" = 0 ] || fail "$leaks secrets found in hepagent's output"
note "PASS: $(echo "$files" | wc -l) outputs ($(cat $files | wc -c) bytes) hold no piece of the auth key or the TLS keys"
