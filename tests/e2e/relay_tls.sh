#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end: a TLS input that requires client certificates. A test CA is
# made with the openssl CLI. hepagent (a capturing agent, as a TLS sender
# with a client certificate from the CA) sends a capture through the relay to
# hep_sink: every message arrives once. Python clients without a certificate,
# with a self-signed one, and one that connects and never starts a handshake
# are refused (tls_failures) or closed by the frame timeout (closed_slow),
# while the agent is being served.

command -v openssl >/dev/null || fail "the openssl command is needed"
PKI=$WORK/pki
mkdir -p "$PKI"
ossl() { openssl "$@" 2>>"$PKI/openssl.log" || { cat "$PKI/openssl.log" >&2; fail "openssl $1 failed"; }; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"; }
newkey ca
ossl req -x509 -new -key "$PKI/ca.key" -subj "/CN=hepagent relay test CA" -days 2 \
    -out "$PKI/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
signed() { # NAME CN SAN EKU
    newkey "$1"
    ossl req -new -key "$PKI/$1.key" -subj "/CN=$2" -out "$PKI/$1.csr"
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" \
        >"$PKI/$1.ext"
    ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
        -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt"
}
signed relay relay.test "IP:127.0.0.1" serverAuth
signed agent agent.test "DNS:agent.test" clientAuth
newkey rogue
ossl req -x509 -new -key "$PKI/rogue.key" -subj "/CN=rogue" -days 2 -out "$PKI/rogue.crt"

read -r P_TLS P_SINK <<<"$(pick_ports 2)"
"$HEP_SINK" -u "$P_SINK" -o "$WORK/sink.jsonl" -T 60000 2>"$WORK/sink.err" &
SINK_PID=$!
E2E_PIDS+=($SINK_PID)
cat >"$WORK/relay.json" <<EOF
{ "capture": [],
  "inputs": [{"url": "tls://127.0.0.1:$P_TLS", "name": "tls-in", "frame_timeout_ms": 1500,
              "tls": {"cert_file": "$PKI/relay.crt", "key_file": "$PKI/relay.key",
                      "ca_file": "$PKI/ca.crt"}}],
  "rules": [{"name": "all"}],
  "collectors": [{"url": "udp://127.0.0.1:$P_SINK"}] }
EOF
"$HEPAGENT" -t -c "$WORK/relay.json" >/dev/null || fail "hepagent -t refuses the relay config"
"$HEPAGENT" -c "$WORK/relay.json" --stats 2>"$WORK/relay.stats" &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
    [ -n "$(ss -Hltn "sport = :$P_TLS")" ] && break
    sleep 0.05
done

note "refused clients and a silent one, while the agent sends"
cat >"$WORK/clients.py" <<EOF
import socket, ssl, sys, time
def attempt(cert):
    ctx = ssl.create_default_context(cafile="$PKI/ca.crt")
    if cert:
        ctx.load_cert_chain("$PKI/%s.crt" % cert, "$PKI/%s.key" % cert)
    try:
        with socket.create_connection(("127.0.0.1", $P_TLS)) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                t.sendall(open("$REPO/tests/unit/vectors/a_ipv4_udp_options.bin", "rb").read())
                t.settimeout(3)
                t.recv(1)  # the refusal comes after the handshake in TLS 1.3
        return "sent"
    except (ssl.SSLError, OSError) as e:
        return "refused"
silent = socket.create_connection(("127.0.0.1", $P_TLS))
print("no-cert", attempt(None))
print("rogue", attempt("rogue"))
silent.settimeout(5)
t0 = time.time()
try:
    closed = silent.recv(1) == b""
except OSError:
    closed = True
print("silent", "closed" if closed else "open", round(time.time() - t0, 1))
EOF
$PYTHON "$WORK/clients.py" >"$WORK/clients.out" 2>&1 &
CLIENTS=$!
cat >"$WORK/agent.json" <<EOF
{ "rules": [{"name": "all"}],
  "collectors": [{"url": "tls://127.0.0.1:$P_TLS",
                  "tls": {"ca_file": "$PKI/ca.crt", "cert_file": "$PKI/agent.crt",
                          "key_file": "$PKI/agent.key"}}] }
EOF
"$HEPAGENT" -c "$WORK/agent.json" -r "$CORPUS/udp/zeek_wireshark_sip.pcap" --stats \
    2>"$WORK/agent.stats" || fail "the TLS sender failed: $(tail -3 "$WORK/agent.stats")"
wait "$CLIENTS" || fail "clients: $(cat "$WORK/clients.out")"
sent=$(awk '$1 == "hep_packets" {print $2}' "$WORK/agent.stats")
for ((i = 0; i < 100; i++)); do
    [ "$(wc -l <"$WORK/sink.jsonl")" -ge "$sent" ] && break
    sleep 0.05
done
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "the relay did not stop"
AGENT_PID=
[ "$WAIT_RC" = 0 ] || fail "the relay exited $WAIT_RC: $(tail -5 "$WORK/relay.stats")"
got=$(wc -l <"$WORK/sink.jsonl")
stat() { $PYTHON "$E2E_DIR/relay_check.py" stats "$WORK/relay.stats" "$1"; }
[ "$sent" -ge 80 ] && [ "$got" = "$sent" ] || fail "the agent sent $sent over TLS, the sink got $got"
grep -q "no-cert refused" "$WORK/clients.out" || fail "a client without certificate: $(cat "$WORK/clients.out")"
grep -q "rogue refused" "$WORK/clients.out" || fail "a self-signed client: $(cat "$WORK/clients.out")"
grep -q "silent closed" "$WORK/clients.out" || fail "the silent client: $(cat "$WORK/clients.out")"
[ "$(stat 'input[tls-in].tls_failures')" -ge 2 ] || fail "TLS refusals not counted"
[ "$(stat 'input[tls-in].closed_slow')" -ge 1 ] || fail "the silent client was not counted"
[ "$(stat 'input[tls-in].packets')" = "$sent" ] || fail "input packets differ from what was sent"
note "$got messages over TLS with a client certificate, 2 clients refused, 1 silent one closed"
echo "PASS"
