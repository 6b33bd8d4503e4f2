#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end test with a real third-party HEP receiver: sngrep (Debian package
# sngrep 1.6). sngrep listens for HEPv3 on UDP (-L) and writes every packet it
# decodes to a pcap (-O), rebuilding each one as Ethernet/IPv4/UDP from the HEP
# chunks (addresses, ports, timestamp, payload). We send several corpus captures
# through hepagent into one sngrep, stop sngrep with SIGTERM (its clean exit: the
# dump file is closed) and compare what sngrep wrote with what tshark finds in
# the inputs: same number of SIP messages, same bytes, same addresses, ports and
# capture times, in the same order.
#
# Notes on sngrep 1.6 (src/capture_eep.c, src/main.c):
#  * -N (no interface) never initialises ncurses, so no terminal is needed; stdin
#    is /dev/null and output goes to files.
#  * -F: read no sngreprc (a user's /etc/sngreprc or ~/.sngreprc could set a
#    listen password, which makes sngrep drop packets without one).
#  * Every decoded HEP packet is dumped before SIP parsing, so dialog filters
#    (-c, capture limit) do not affect the pcap; the dump is flushed per packet.
#  * SIGTERM, SIGINT and SIGQUIT set a flag polled every 0.5 s, after which
#    sngrep closes the dump and exits 0. SIGHUP only reopens the dump file.
#  * The listener is IPv4 UDP only and reads at most 20480 bytes per datagram;
#    it always writes UDP frames (TCP-carried SIP shows up as UDP), and IPv6
#    addresses cannot be represented: so only IPv4 captures are used here.
#
# Override the capture list with SNGREP_CAPTURES="a.pcap b.pcap" (paths relative
# to the corpus).

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for tool in sngrep tshark "$PY"; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian packages: sngrep tshark python3)"
done
[ -x "$HEPAGENT" ] || fail "no hepagent at $HEPAGENT"

read -r -a CAPTURES <<<"${SNGREP_CAPTURES:-udp/zeek_wireshark_sip.pcap linktypes/synth_sip_sll.pcap tunnels/synth_sip_vxlan.pcap tcp/sip_tcp_pattern.pcap tunnels/sip_ipip.pcap udp/sip_body_frames.pcap tcp/sip_tcp_method.pcap}"

# ---------------------------------------------------------------------------
# Python helper (stdlib only): tshark extraction, pcap record counting, compare.
cat >"$WORK/sip_compare.py" <<'PYEOF'
import json, os, subprocess, sys

import pcapfile  # tests/tools, on PYTHONPATH

TSHARK_TIMEOUT = 60

def tshark(args):
    p = subprocess.run(["tshark", "-n"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TSHARK_TIMEOUT)
    err = p.stderr.decode(errors="replace")
    err = "\n".join(l for l in err.splitlines() if "Running as user" not in l)
    if p.returncode != 0 or err.strip():
        sys.exit("tshark %s failed (rc %d): %s" % (" ".join(args), p.returncode, err.strip()))
    return p.stdout

def tshark_json(path, filt, fields):
    args = ["-r", path, "-T", "json"]
    if filt:
        args += ["-Y", filt]
    for f in fields:
        args += ["-e", f]
    out = tshark(args).strip()
    return [pkt["_source"]["layers"] for pkt in json.loads(out)] if out else []

def ts(epoch):
    # "1120469572.844249000" -> (1120469572, 844249), exact (no float)
    sec, _, frac = epoch.partition(".")
    return [int(sec), int((frac + "000000")[:6])]

def last(layers, name, default=None):
    v = layers.get(name)
    return v[-1] if v else default

def sip_messages(path):
    """The SIP messages tshark finds in a capture (frames tshark's "sip" filter
    would match): one dict per message, with the innermost IP/L4 header's
    addresses and ports, the capture time (for a TCP message reassembled from
    several segments: of the first segment) and the message bytes."""
    frames = tshark_json(path, None, [
        "frame.number", "frame.time_epoch", "frame.protocols",
        "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
        "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
        "udp.payload", "tcp.payload", "tcp.reassembled.data", "tcp.segment",
        "sip.Request-Line", "sip.Status-Line", "sip.Call-ID"])
    times = {l["frame.number"][0]: ts(l["frame.time_epoch"][0]) for l in frames}
    msgs = []
    for l in frames:
        num = l["frame.number"][0]
        protos = l["frame.protocols"][0].split(":")
        if "sip" not in protos:
            continue
        nmsg = len(l.get("sip.Request-Line", [])) + len(l.get("sip.Status-Line", []))
        if nmsg != 1:
            sys.exit("%s frame %s holds %d SIP messages: not supported by this test" % (path, num, nmsg))
        l4 = [p for p in protos if p in ("udp", "tcp")]
        l3 = [p for p in protos if p in ("ip", "ipv6")]
        if not l4 or not l3:
            sys.exit("%s frame %s: no IP/UDP/TCP below SIP (%s)" % (path, num, protos))
        l3, l4 = l3[-1], l4[-1]
        fam = "ip" if l3 == "ip" else "ipv6"
        m = {"file": path, "frame": int(num), "family": fam, "transport": l4,
             "src": last(l, fam + ".src"), "dst": last(l, fam + ".dst"),
             "sport": int(last(l, l4 + ".srcport")), "dport": int(last(l, l4 + ".dstport")),
             "callid": last(l, "sip.Call-ID")}
        if l4 == "tcp" and l.get("tcp.reassembled.data"):
            m["payload"] = last(l, "tcp.reassembled.data")
            m["time"] = times[l["tcp.segment"][0]]
        else:
            m["payload"] = last(l, l4 + ".payload", "")
            m["time"] = times[num]
        msgs.append(m)
    return msgs

def pcap_records(path):
    """Complete records in a classic pcap file (as a writer may still append)."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return 0
    if len(data) < 24:
        return 0
    pcap = pcapfile.read_pcap(data)
    return -1 if pcap is None else len(pcap.records)

def describe(m):
    return "%s frame %s" % (os.path.basename(m["file"]), m["frame"])

def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))

def compare(out_pcap, expected):
    got = []
    for l in tshark_json(out_pcap, None, ["frame.number", "frame.protocols", "frame.time_epoch",
                                          "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
                                          "udp.payload"]):
        got.append({"protos": l["frame.protocols"][0],
                    "src": last(l, "ip.src"), "dst": last(l, "ip.dst"),
                    "sport": int(last(l, "udp.srcport", -1)), "dport": int(last(l, "udp.dstport", -1)),
                    "time": ts(l["frame.time_epoch"][0]), "payload": last(l, "udp.payload", "")})
    errors = []
    if len(got) != len(expected):
        errors.append("sngrep wrote %d packets, the inputs hold %d SIP messages" % (len(got), len(expected)))
    for i, (e, g) in enumerate(zip(expected, got)):
        where = "packet %d of sngrep's pcap (input %s)" % (i + 1, describe(e))
        if not g["protos"].startswith("eth:ethertype:ip:udp"):
            errors.append("%s: unexpected framing %s" % (where, g["protos"]))
        if g["payload"] != e["payload"]:
            eb, gb = bytes.fromhex(e["payload"]), bytes.fromhex(g["payload"])
            k = first_diff(eb, gb)
            errors.append("%s: SIP bytes differ (input %d bytes, sngrep %d bytes, first difference at "
                          "offset %d: input %r, sngrep %r)" % (where, len(eb), len(gb), k,
                                                               eb[k:k + 16], gb[k:k + 16]))
        for key in ("src", "dst", "sport", "dport", "time"):
            if g[key] != e[key]:
                errors.append("%s: %s is %r, input has %r" % (where, key, g[key], e[key]))
    return len(got), errors

def main():
    cmd = sys.argv[1]
    if cmd == "expect":            # expect DIR CAPTURE... -> DIR/expect.K.json, prints each count
        from concurrent.futures import ThreadPoolExecutor
        caps = sys.argv[3:]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(sip_messages, caps))
        for k, msgs in enumerate(results):
            for m in msgs:
                if m["family"] != "ip":
                    sys.exit("%s: IPv6 SIP message, sngrep's listener cannot represent it" % describe(m))
            json.dump(msgs, open(os.path.join(sys.argv[2], "expect.%d.json" % k), "w"))
            print(len(msgs))
    elif cmd == "count":           # count PCAP -> complete records so far
        print(pcap_records(sys.argv[2]))
    elif cmd == "wait":            # wait PCAP N SECONDS -> until PCAP holds >= N records
        import time
        deadline = time.monotonic() + float(sys.argv[4])
        while True:
            n = pcap_records(sys.argv[2])
            if n >= int(sys.argv[3]) or time.monotonic() > deadline:
                print(n)
                return
            time.sleep(0.05)
    elif cmd == "compare":         # compare OUT.pcap EXPECTED.json...
        expected = []
        for f in sys.argv[3:]:
            expected += json.load(open(f))
        n, errors = compare(sys.argv[2], expected)
        for e in errors[:20]:
            print("  " + e)
        if len(errors) > 20:
            print("  ... and %d more differences" % (len(errors) - 20))
        if errors:
            sys.exit(1)
        print("sngrep wrote %d packets, all equal to the inputs' SIP messages "
              "(bytes, addresses, ports, timestamps)" % n)
    else:
        sys.exit("unknown command " + cmd)

main()
PYEOF
check() { PYTHONPATH="$REPO/tests/tools" "$PY" "$WORK/sip_compare.py" "$@"; }

# manifest_count PATH: the MANIFEST's sip_messages for PATH (empty if not listed)
manifest_count() {
    awk -F'\t' -v p="$1" '$1 == p { print $7 }' "$CORPUS/MANIFEST.tsv"
}

# ---------------------------------------------------------------------------
# Expectations, from tshark on the inputs.
declare -A expect_n=()
expected_files=()
cap_paths=()
for cap in "${CAPTURES[@]}"; do
    [ -f "$CORPUS/$cap" ] || fail "capture $cap not in $CORPUS"
    cap_paths+=("$CORPUS/$cap")
done
counts=$(check expect "$WORK" "${cap_paths[@]}") || fail "could not derive the expected SIP messages from the inputs (see above)"
mapfile -t counts <<<"$counts"
for k in "${!CAPTURES[@]}"; do
    cap=${CAPTURES[$k]}
    n=${counts[$k]:-0}
    [ "$n" -gt 0 ] || fail "tshark finds no SIP message in $cap"
    m=$(manifest_count "$cap")
    [ -z "$m" ] || [ "$m" = "$n" ] || fail "tshark finds $n SIP messages in $cap, MANIFEST.tsv says $m"
    expect_n[$cap]=$n
    expected_files+=("$WORK/expect.$k.json")
done
[ "${expect_n[udp/zeek_wireshark_sip.pcap]:-81}" = 81 ] ||
    fail "sanity: tshark should find 81 SIP messages in udp/zeek_wireshark_sip.pcap"

# ---------------------------------------------------------------------------
# Start sngrep on a free port (retried if the port is taken in between).
free_udp_port() {
    "$PY" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# udp_bound_by PID PORT: PID holds a UDP socket bound to 127.0.0.1:PORT
udp_bound_by() {
    local hex inode fd
    hex=$(printf '0100007F:%04X' "$2")
    while read -r inode; do
        for fd in "/proc/$1/fd/"*; do
            [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
        done
    done < <(awk -v a="$hex" '$2 == a { print $10 }' /proc/net/udp)
    return 1
}

OUT=$WORK/sngrep_out.pcap
SNGREP_PID=
for attempt in 1 2 3 4 5; do
    PORT=$(free_udp_port)
    rm -f "$OUT"
    # -N: no UI; -q: no dialog counter; -F: no config files; stdin closed: no terminal
    TERM=dumb sngrep -N -q -F -L "udp:127.0.0.1:$PORT" -O "$OUT" \
        </dev/null >"$WORK/sngrep.stdout" 2>"$WORK/sngrep.stderr" &
    SNGREP_PID=$!
    E2E_PIDS+=("$SNGREP_PID")
    for ((i = 0; i < 100; i++)); do # up to 5 s
        kill -0 "$SNGREP_PID" 2>/dev/null || break
        udp_bound_by "$SNGREP_PID" "$PORT" && break
        sleep 0.05
    done
    if kill -0 "$SNGREP_PID" 2>/dev/null && udp_bound_by "$SNGREP_PID" "$PORT"; then
        break
    fi
    kill "$SNGREP_PID" 2>/dev/null || true
    wait "$SNGREP_PID" 2>/dev/null || true
    note "sngrep did not start on port $PORT (attempt $attempt): $(tr '\n' ' ' <"$WORK/sngrep.stderr")"
    SNGREP_PID=
done
[ -n "$SNGREP_PID" ] || fail "could not start sngrep listening on a free UDP port"
note "sngrep (pid $SNGREP_PID) listening for HEP on udp:127.0.0.1:$PORT"

# ---------------------------------------------------------------------------
# Send each capture, waiting for sngrep to have written it before the next one
# (keeps sngrep's socket buffer from overflowing and the order deterministic).
total=0
for cap in "${CAPTURES[@]}"; do
    log=$WORK/hepagent.$(basename "$cap").log
    rc=0
    timeout 30 "$HEPAGENT" -r "$CORPUS/$cap" -H "udp://127.0.0.1:$PORT" --stats 2>"$log" || rc=$?
    [ "$rc" = 0 ] || { cat "$log" >&2; fail "hepagent exited $rc on $cap"; }
    sent=$(awk '$1 == "rules_sent" { print $2 }' "$log")
    [ "$sent" = "${expect_n[$cap]}" ] ||
        fail "hepagent sent ${sent:-?} SIP messages from $cap, tshark finds ${expect_n[$cap]} (log: $(grep -E '^sip_|^rules_|^hep_' "$log" | tr '\n' ' '))"
    total=$((total + sent))
    got=$(check wait "$OUT" "$total" 10)
    kill -0 "$SNGREP_PID" 2>/dev/null || fail "sngrep died: $(cat "$WORK/sngrep.stderr")"
    [ "$got" -ge "$total" ] || fail "after $cap sngrep wrote $got packets in 10 s, expected $total"
    note "$cap: $sent SIP messages sent, sngrep has written $got packets"
done

# ---------------------------------------------------------------------------
# Stop sngrep cleanly: SIGTERM (polled every 0.5 s), then it closes the dump.
sleep 0.3 # anything still in flight
kill -TERM "$SNGREP_PID"
for ((i = 0; i < 100; i++)); do # up to 5 s
    kill -0 "$SNGREP_PID" 2>/dev/null || break
    sleep 0.05
done
if kill -0 "$SNGREP_PID" 2>/dev/null; then
    kill -KILL "$SNGREP_PID" 2>/dev/null || true
    fail "sngrep did not exit within 5 s of SIGTERM"
fi
rc=0
wait "$SNGREP_PID" || rc=$?
[ "$rc" = 0 ] || fail "sngrep exited with status $rc: $(cat "$WORK/sngrep.stderr")"
note "sngrep exited 0 after SIGTERM"

# ---------------------------------------------------------------------------
check compare "$OUT" "${expected_files[@]}" ||
    fail "sngrep's pcap differs from the SIP messages of ${CAPTURES[*]}"
note "PASS sngrep: ${#CAPTURES[@]} captures, $total SIP messages"
