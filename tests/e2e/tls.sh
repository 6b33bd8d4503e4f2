#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# TLS to collectors against real TLS servers and a throwaway test PKI.
#
# The PKI is made here with the openssl CLI: a test CA; server certificates
# for collector.test + IP 127.0.0.1, for localhost only, an expired one (CA
# signed, 2020) and a self-signed one; client certificates from the CA and a
# self-signed one. socat terminates TLS and relays to hep_sink's TCP port, so
# the HEP packets are decoded after the TLS path; a small Python server does
# what socat cannot (record the SNI, send no session tickets).
#
# Each case replays udp/zeek_wireshark_sip.pcap (-r) with its own capture id
# through a tls:// collector and prints one line. Accepted: every message
# arrives and the sink's lines equal those of a plain-TCP reference run.
# Refused: nothing arrives, hepagent logs the reason, counts tls_failures,
# and exits 1 (a file replay that could not deliver has failed).
#    1 ca_file                         accepted
#    2 ca_dir (openssl rehash)         accepted
#    3 wrong host: 127.0.0.1 vs a localhost-only certificate / server_name
#      other.test                      refused (IP address / hostname mismatch)
#    4 server_name = the certificate's name, connecting to 127.0.0.1: accepted
#    5 expired                         refused
#    6 self-signed                     refused
#    7 self-signed, insecure: true     accepted, with a warning
#    8 the server requires a client certificate: none (TLS 1.3 and 1.2), a
#      self-signed one -> refused; one from the CA -> accepted, also from a
#      server that sends no session ticket (TLS 1.3: no word after the
#      handshake, taken as acceptance after 0.5 s)
#    9 hepagent -t: missing ca_file / ca_dir, key_file without cert_file or
#      not matching it,
#      insecure with ca_file -> exit 2 naming the problem; valid -> exit 0
#   10 SNI: server_name is sent; none for an IP address
#   11 a slow collector that speaks 300 ms after the handshake: everything
#      arrives (hepagent waits for the acknowledgements before it closes)
#   12 a collector with a small receive buffer that reads nothing after the
#      handshake, then resets the connection: what its TCP did not
#      acknowledge goes again on the next connection (retransmitted > 0);
#      lost are only the first packets, whose bytes its kernel acknowledged
#      and held unread, and nothing arrives twice

CAPTURE=udp/zeek_wireshark_sip.pcap
PCAP=$CORPUS/$CAPTURE
WANT=$(awk -v c="corpus/$CAPTURE" '$1 == c { print $2 }' "$REPO/tests/pcap/TESTLIST")
[ -n "$WANT" ] || fail "no TESTLIST line for $CAPTURE"
command -v socat >/dev/null || fail "socat is needed (scripts/install-deps.sh)"
command -v openssl >/dev/null || fail "the openssl command is needed"

SHUTDOWN_MS=1000 # how long a refused case retries before giving up
CONNECT_MS=1000  # connect, and handshake, timeout

declare -a SERVER_PIDS=()
declare -A PORT=() # server name -> its TCP port
tls_cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        pkill -TERM -P "$pid" 2>/dev/null || true # socat's per-connection children
        kill -TERM "$pid" 2>/dev/null || true
    done
    e2e_cleanup
}
trap tls_cleanup EXIT

# ---- the test PKI --------------------------------------------------------

PKI=$WORK/pki
mkdir -p "$PKI/cadir" "$PKI/db"
ossl() { openssl "$@" 2>>"$PKI/openssl.log" || { cat "$PKI/openssl.log" >&2; fail "openssl $1 failed"; }; }
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"; }

newkey ca
ossl req -x509 -new -key "$PKI/ca.key" -subj "/CN=hepagent e2e test CA" -days 2 -out "$PKI/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# signed NAME CN SAN EKU: a certificate from the test CA, valid now
signed() {
    newkey "$1"
    ossl req -new -key "$PKI/$1.key" -subj "/CN=$2" -out "$PKI/$1.csr"
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$PKI/$1.ext"
    ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
        -extfile "$PKI/$1.ext" -out "$PKI/$1.crt"
}
signed server collector.test "DNS:collector.test,IP:127.0.0.1" serverAuth
signed localhost localhost "DNS:localhost" serverAuth
signed client hepagent.test "DNS:hepagent.test" clientAuth

# expired: OpenSSL 3.0's x509 cannot set past dates; "openssl ca" can
newkey expired
ossl req -new -key "$PKI/expired.key" -subj "/CN=collector.test" -out "$PKI/expired.csr"
: >"$PKI/db/index.txt"
echo 1000 >"$PKI/db/serial"
cat >"$PKI/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
database = $PKI/db/index.txt
serial = $PKI/db/serial
new_certs_dir = $PKI/db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[server]
basicConstraints = CA:FALSE
subjectAltName = DNS:collector.test,IP:127.0.0.1
extendedKeyUsage = serverAuth
EOF
ossl ca -batch -config "$PKI/ca.cnf" -cert "$PKI/ca.crt" -keyfile "$PKI/ca.key" -extensions server \
    -startdate 20200101000000Z -enddate 20200102000000Z -notext -in "$PKI/expired.csr" -out "$PKI/expired.crt"

# self-signed, with the right names (only the issuer is wrong)
newkey self
ossl req -x509 -new -key "$PKI/self.key" -subj "/CN=collector.test" -days 2 -out "$PKI/self.crt" \
    -addext "subjectAltName=DNS:collector.test,IP:127.0.0.1"

cp "$PKI/ca.crt" "$PKI/cadir/"
ossl rehash "$PKI/cadir"
ls "$PKI/cadir"/*.0 >/dev/null 2>&1 || fail "openssl rehash made no hash link in $PKI/cadir"
ossl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt" "$PKI/localhost.crt" "$PKI/client.crt" >/dev/null
! openssl verify -CAfile "$PKI/ca.crt" "$PKI/expired.crt" >/dev/null 2>&1 || fail "the expired certificate verifies"
note "test PKI in $PKI"

# ---- servers -------------------------------------------------------------

# socat_server NAME OPTIONS: socat terminating TLS on 127.0.0.1 and relaying
# each connection to the sink; sets PORT[NAME]
socat_server() {
    local name=$1 opts=$2 port pid i
    port=$(pick_ports 1)
    socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,$opts" "TCP:127.0.0.1:$SINK_TCP_PORT" \
        2>"$WORK/socat-$name.log" &
    pid=$!
    SERVER_PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/socat-$name.log" >&2; fail "socat ($name) exited"; }
        sleep 0.05
    done
    ((i < 100)) || fail "socat ($name) is not listening on $port after 5 s"
    PORT[$name]=$port
}

cat >"$WORK/tls_server.py" <<'PY'
# tls_server.py PORTFILE CERT KEY CLIENT_CA|- TICKETS SINK_PORT SNI_LOG [LATE_MS [RESET_MS]]:
# a TLS server on 127.0.0.1 that logs each client's SNI ("-" for none) and
# relays what it receives to the sink; CLIENT_CA requires a client certificate.
# LATE_MS: a slow collector with a small receive buffer that, that long after
# the handshake, says something (as a late session ticket would) before reading.
# RESET_MS: the first connection (small receive buffer) reads nothing after the
# handshake and is reset that long after it, logging "reset RCVBUF UNREAD" (bytes
# its kernel acknowledged and held); the others relay, logging "relayed BYTES".
import fcntl, os, socket, ssl, struct, sys, termios, threading, time
port_file, cert, key, client_ca, tickets, sink_port, sni_log = sys.argv[1:8]
late_ms = int(sys.argv[8]) if len(sys.argv) > 8 else 0
reset_ms = int(sys.argv[9]) if len(sys.argv) > 9 else 0
conn_log = open(sni_log + ".conns", "a", buffering=1)
accepted = 0
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if client_ca != "-":
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
ctx.num_tickets = int(tickets)
names = open(sni_log, "a", buffering=1)
ctx.sni_callback = lambda sock, name, c: names.write((name or "-") + "\n") and None

def serve(conn, first):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("handshake failed:", e, file=sys.stderr, flush=True)
        conn.close()
        return
    if late_ms:
        time.sleep(late_ms / 1000)
        tls.sendall(b"late words from the collector")
    if first and reset_ms:
        time.sleep(reset_ms / 1000)
        unread = struct.unpack("i", fcntl.ioctl(tls.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        rcvbuf = tls.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
        conn_log.write(f"reset {rcvbuf} {unread}\n")
        return
    up = socket.create_connection(("127.0.0.1", int(sink_port)))
    relayed = 0
    try:
        while data := tls.recv(65536):
            up.sendall(data)
            relayed += len(data)
    except (ssl.SSLError, OSError):
        pass
    up.close()
    tls.close()
    conn_log.write(f"relayed {relayed}\n")

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if late_ms or reset_ms:
    # a reset collector acknowledges more than one 16 kB record: whole packets too
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384 if reset_ms else 4096)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(f"{ls.getsockname()[1]}\n")
os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = ls.accept()
    accepted += 1
    threading.Thread(target=serve, args=(conn, accepted == 1), daemon=True).start()
PY

# py_server NAME CLIENT_CA|- TICKETS [LATE_MS [RESET_MS]]: sets PORT[NAME]; SNI
# log $WORK/sni-NAME.log, connections $WORK/sni-NAME.log.conns
py_server() {
    local name=$1
    : >"$WORK/sni-$name.log"
    "$PYTHON" "$WORK/tls_server.py" "$WORK/py-$name.port" "$PKI/server.crt" "$PKI/server.key" "$2" "$3" \
        "$SINK_TCP_PORT" "$WORK/sni-$name.log" ${4:+"$4"} ${5:+"$5"} 2>"$WORK/py-$name.log" &
    SERVER_PIDS+=("$!")
    wait_for_file "$WORK/py-$name.port"
    PORT[$name]=$(cat "$WORK/py-$name.port")
}

T0=$(date +%s.%N)
start_sink tls -t 0
SINK=$WORK/tls.jsonl
socat_server valid "cert=$PKI/server.crt,key=$PKI/server.key,verify=0"
socat_server local "cert=$PKI/localhost.crt,key=$PKI/localhost.key,verify=0"
socat_server expired "cert=$PKI/expired.crt,key=$PKI/expired.key,verify=0"
socat_server self "cert=$PKI/self.crt,key=$PKI/self.key,verify=0"
socat_server mutual "cert=$PKI/server.crt,key=$PKI/server.key,cafile=$PKI/ca.crt,verify=1"
socat_server mutual12 "cert=$PKI/server.crt,key=$PKI/server.key,cafile=$PKI/ca.crt,verify=1,max-version=TLS1.2"
py_server sni - 2
py_server noticket "$PKI/ca.crt" 0
py_server late - 2 300
py_server reset - 2 0 1000
note "sink tcp/$SINK_TCP_PORT; servers:$(for n in "${!PORT[@]}"; do printf ' %s/%s' "$n" "${PORT[$n]}"; done)"

# ---- running hepagent ----------------------------------------------------

# write_config FILE CAPTURE_ID URL [TLS_JSON]
write_config() {
    cat >"$1" <<EOF
/* written by tests/e2e/tls.sh */
{
    "agent": { "capture_id": $2, "log_level": "info", "shutdown_timeout_ms": $SHUTDOWN_MS },
    "rules": [ { "name": "all", "action": "send" } ],
    "delivery": { "connect_timeout_ms": $CONNECT_MS, "reconnect_min_ms": 100, "reconnect_max_ms": 200 },
    "collectors": [ { "url": "$3"${4:+, \"tls\": $4} } ]
}
EOF
}

# stat_of LOG URL NAME: a collector counter from --stats
stat_of() {
    awk -v k="collector[$2].$3" '$1 == k { print $2 }' "$1"
}

# sink_lines CAPTURE_ID: that case's lines at the sink, capture id removed
sink_lines() {
    grep -F "\"capid\":$1," "$SINK" | sed "s/\"capid\":$1,//" || true
}

NEXT_ID=100
declare -A EXPECT=() # capture id -> messages the sink must hold at the end

# run_case NAME PORT TLS_JSON: runs hepagent once; sets ID, URL, LOG, RC, SECS
run_case() {
    CASE=$1
    ID=$((NEXT_ID += 1))
    URL=tls://127.0.0.1:$2
    LOG=$WORK/case-$ID.log
    write_config "$WORK/case-$ID.json" "$ID" "$URL" "$3"
    local t0
    t0=$(date +%s%N)
    RC=0
    timeout 30 "$HEPAGENT" -c "$WORK/case-$ID.json" -r "$PCAP" --stats 2>"$LOG" || RC=$?
    SECS=$(printf '%.2f' "$(echo "($(date +%s%N) - $t0) / 1000000000" | bc -l)")
    [ "$RC" != 124 ] || { cat "$LOG" >&2; fail "$CASE: hepagent still running after 30 s"; }
}

# accepted NAME PORT TLS_JSON [LOG_PATTERN]
accepted() {
    run_case "$1" "$2" "$3"
    local sent connects
    sent=$(stat_of "$LOG" "$URL" sent)
    connects=$(stat_of "$LOG" "$URL" connects)
    if [ "$RC" != 0 ] || [ "$sent" != "$WANT" ] || [ "$connects" != 1 ]; then
        cat "$LOG" >&2
        fail "$CASE: want exit 0, $WANT sent over 1 connection; got exit $RC, sent '$sent', connects '$connects'"
    fi
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -cF "\"capid\":$ID," "$SINK" || true)" -ge "$WANT" ] && break
        sleep 0.05
    done
    if ! cmp -s <(sink_lines "$ID") "$WORK/reference.lines"; then
        diff <(sink_lines "$ID" | cut -c1-200) <(cut -c1-200 "$WORK/reference.lines") | head -n 10 >&2 || true
        fail "$CASE: the sink's $(sink_lines "$ID" | wc -l) packets differ from the $WANT of the TCP reference"
    fi
    if [ -n "${4:-}" ] && ! grep -qE -- "$4" "$LOG"; then
        cat "$LOG" >&2
        fail "$CASE: the log has no line matching /$4/"
    fi
    EXPECT[$ID]=$WANT
    local extra=""
    [ -n "${4:-}" ] && extra="; log: $(grep -E -- "$4" "$LOG" | head -n 1)"
    note "case $CASE: accepted: $WANT/$WANT messages arrived intact (${SECS} s)$extra"
}

# refused NAME PORT TLS_JSON LOG_PATTERN: the first warning must match
refused() {
    run_case "$1" "$2" "$3"
    local sent failures dropped warning
    sent=$(stat_of "$LOG" "$URL" sent)
    failures=$(stat_of "$LOG" "$URL" tls_failures)
    dropped=$(stat_of "$LOG" "$URL" dropped_shutdown)
    warning=$(grep -F "hepagent: warn: collector $URL:" "$LOG" | head -n 1 || true)
    if [ "$RC" != 1 ] || [ "$sent" != 0 ] || [ "${failures:-0}" -lt 1 ] || [ "$dropped" != "$WANT" ]; then
        cat "$LOG" >&2
        fail "$CASE: want exit 1, 0 sent, tls_failures > 0, $WANT dropped at shutdown;" \
            "got exit $RC, sent '$sent', tls_failures '$failures', dropped_shutdown '$dropped'"
    fi
    if ! grep -qE -- "$4" <<<"$warning"; then
        cat "$LOG" >&2
        fail "$CASE: the collector's warning does not match /$4/: $warning"
    fi
    EXPECT[$ID]=0
    note "case $CASE: refused: 0/$WANT arrived, tls_failures $failures (${SECS} s); log: $warning"
}

# ---- the reference: the same replay over plain TCP -----------------------

ID=$((NEXT_ID += 1))
write_config "$WORK/reference.json" "$ID" "tcp://127.0.0.1:$SINK_TCP_PORT"
"$HEPAGENT" -c "$WORK/reference.json" -r "$PCAP" 2>"$WORK/reference.log" ||
    { cat "$WORK/reference.log" >&2; fail "the plain-TCP reference run failed"; }
wait_for_lines "$SINK" "$WANT" 5 || fail "the TCP reference: fewer than $WANT packets at the sink"
sink_lines "$ID" >"$WORK/reference.lines"
[ "$(wc -l <"$WORK/reference.lines")" = "$WANT" ] || fail "the TCP reference: not $WANT packets at the sink"
EXPECT[$ID]=$WANT
note "reference: $WANT HEP packets over plain TCP"

# ---- the cases -----------------------------------------------------------

CA="\"ca_file\": \"$PKI/ca.crt\""
CLIENT="\"cert_file\": \"$PKI/client.crt\", \"key_file\": \"$PKI/client.key\""

accepted "1 ca_file" "${PORT[valid]}" "{ $CA }"
accepted "2 ca_dir" "${PORT[valid]}" "{ \"ca_dir\": \"$PKI/cadir\" }"
refused "3a wrong host (IP)" "${PORT[local]}" "{ $CA }" "certificate verification failed: IP address mismatch"
refused "3b wrong host (name)" "${PORT[valid]}" "{ $CA, \"server_name\": \"other.test\" }" \
    "certificate verification failed: hostname mismatch"
accepted "4 server_name" "${PORT[local]}" "{ $CA, \"server_name\": \"localhost\" }"
refused "5 expired" "${PORT[expired]}" "{ $CA }" "certificate verification failed: certificate has expired"
refused "6 self-signed" "${PORT[self]}" "{ $CA }" "certificate verification failed: self-signed certificate"
accepted "7 self-signed, insecure" "${PORT[self]}" "{ \"insecure\": true }" \
    "warn: collector .*: tls.insecure: the collector's certificate and name are not verified"
refused "8a client cert required, none" "${PORT[mutual]}" "{ $CA }" "TLS handshake: .*alert certificate required"
refused "8b client cert required, none, TLS 1.2" "${PORT[mutual12]}" "{ $CA }" "TLS handshake: .*alert"
refused "8c client cert not from the CA" "${PORT[mutual]}" \
    "{ $CA, \"cert_file\": \"$PKI/self.crt\", \"key_file\": \"$PKI/self.key\" }" "TLS handshake: .*alert unknown ca"
accepted "8d client cert" "${PORT[mutual]}" "{ $CA, $CLIENT }"
# the collector says nothing after the handshake: hepagent waits at least
# 0.5 s for a refusal before it sends (longer than the stop may take here)
SHUTDOWN_MS=3000 accepted "8e client cert, server without session tickets" "${PORT[noticket]}" "{ $CA, $CLIENT }"
[ "$(echo "$SECS >= 0.5" | bc -l)" = 1 ] ||
    fail "case 8e took $SECS s: it cannot have waited 0.5 s for the collector's verdict"

# SNI
: >"$WORK/sni-sni.log"
accepted "10a SNI from server_name" "${PORT[sni]}" "{ $CA, \"server_name\": \"collector.test\" }"
[ "$(cat "$WORK/sni-sni.log")" = collector.test ] ||
    fail "case 10a: the server saw SNI '$(tr '\n' ' ' <"$WORK/sni-sni.log")', want collector.test"
: >"$WORK/sni-sni.log"
accepted "10b no SNI for an IP address" "${PORT[sni]}" "{ $CA }"
[ "$(cat "$WORK/sni-sni.log")" = - ] ||
    fail "case 10b: the server saw SNI '$(tr '\n' ' ' <"$WORK/sni-sni.log")', want none"
note "SNI: collector.test when server_name says so, none when connecting by IP"

# the last packets are written long before the slow collector has them: the
# agent must not close (a reset then discards them) until they are acknowledged
accepted "11 slow collector that speaks late" "${PORT[late]}" "{ $CA }" '\.reply_bytes [1-9]'

# the first connection takes the handshake and a receive buffer's worth,
# then holds the rest unacknowledged in hepagent's socket until it resets
SHUTDOWN_MS=5000 run_case "12 reset with unacknowledged packets" "${PORT[reset]}" "{ $CA }"
CONNS=$WORK/sni-reset.log.conns
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '^relayed' "$CONNS" || true)" -ge 1 ] && break
    sleep 0.05
done
sleep 0.3 # the sink writes what the relay passed on
read -r _ rcvbuf unread < <(grep '^reset' "$CONNS" || true)
relayed=$(awk '$1 == "relayed" { n += $2 } END { print n + 0 }' "$CONNS")
sent=$(stat_of "$LOG" "$URL" sent)
sent_bytes=$(stat_of "$LOG" "$URL" sent_bytes)
retransmitted=$(stat_of "$LOG" "$URL" retransmitted)
connects=$(stat_of "$LOG" "$URL" connects)
got=$(sink_lines "$ID" | wc -l)
lost=$((WANT - got))
lost_bytes=$((sent_bytes - relayed))
NUMBERS="delivered $got/$WANT, lost $lost ($lost_bytes bytes; the first collector's kernel held $unread"
NUMBERS+=" unread, receive buffer $rcvbuf), retransmitted $retransmitted, connects $connects, exit $RC"
note "case 12: $NUMBERS"
if [ "$RC" != 0 ] || [ "$sent" != "$WANT" ] || [ -z "$unread" ] || [ "${connects:-0}" -lt 2 ] ||
    [ "${retransmitted:-0}" -lt 1 ] || [ "$lost_bytes" -gt "$unread" ] || [ "$unread" -gt "$rcvbuf" ]; then
    cat "$LOG" "$CONNS" >&2
    fail "case 12: want exit 0, $WANT sent, 2+ connects, retransmitted > 0, lost bytes <= unread <= rcvbuf; got $NUMBERS"
fi
# lost can only be the first packets (the ones acknowledged); the rest once, in order
if ! cmp -s <(sink_lines "$ID") <(tail -n "$got" "$WORK/reference.lines"); then
    diff <(sink_lines "$ID" | cut -c1-200) <(tail -n "$got" "$WORK/reference.lines" | cut -c1-200) | head -n 10 >&2 || true
    fail "case 12: the sink's $got packets are not the last $got of the reference, once each, in order"
fi
EXPECT[$ID]=$got
note "case 12 reset with unacknowledged packets: the unacknowledged went again; lost only what the collector's kernel held"

# ---- hepagent -t ---------------------------------------------------------

# check NAME WANT_RC TLS_JSON PATTERN
check() {
    local cfg=$WORK/check.json rc=0
    write_config "$cfg" 1 "tls://127.0.0.1:9" "$3"
    "$HEPAGENT" -t -c "$cfg" -r "$PCAP" >"$WORK/check.out" 2>&1 || rc=$?
    if [ "$rc" != "$2" ] || ! grep -qF -- "$4" "$WORK/check.out"; then
        cat "$WORK/check.out" >&2
        fail "case 9 $1: hepagent -t exited $rc (want $2) or did not print '$4'"
    fi
    note "case 9 $1: -t exit $rc: $(head -n 1 "$WORK/check.out")"
}
check "valid" 0 "{ $CA, $CLIENT, \"server_name\": \"collector.test\" }" "config OK"
check "missing ca_file" 2 "{ \"ca_file\": \"$WORK/no-such-ca.pem\" }" "$WORK/no-such-ca.pem"
check "missing ca_dir" 2 "{ \"ca_dir\": \"$WORK/no-such-dir\" }" "$WORK/no-such-dir"
check "key_file without cert_file" 2 "{ $CA, \"key_file\": \"$PKI/client.key\" }" \
    '"key_file" needs "cert_file"'
check "key not matching cert" 2 "{ $CA, \"cert_file\": \"$PKI/client.crt\", \"key_file\": \"$PKI/self.key\" }" \
    "$PKI/self.key"
check "insecure with ca_file" 2 "{ $CA, \"insecure\": true }" '"insecure" verifies nothing'

# ---- nothing else arrived ------------------------------------------------

stop_sink
for id in "${!EXPECT[@]}"; do
    got=$(grep -cF "\"capid\":$id," "$SINK" || true)
    [ "$got" = "${EXPECT[$id]}" ] || fail "capture id $id: $got packets at the sink in the end, want ${EXPECT[$id]}"
done
total=$(wc -l <"$SINK")
[ "$total" = "$(($(printf '%s\n' "${EXPECT[@]}" | paste -sd+)))" ] ||
    fail "the sink holds $total lines, more than the cases account for"
note "PASS: TLS accepted and refused as configured ($(printf '%.1f' "$(echo "$(date +%s.%N) - $T0" | bc)") s)"
