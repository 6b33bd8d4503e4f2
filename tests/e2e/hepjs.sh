#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# End-to-end test with a real third-party HEP decoder: hep-js 1.0.22 (npm, the
# decoder of Homer's Node.js tools). tests/e2e/hepjs/check.js listens on UDP,
# decodes each datagram with require('hep-js').decapsulate() and writes one JSON
# line per packet. We send IPv4/UDP corpus captures through hepagent with
# --capture-id 4242 --node-name hepjs-node and compare every decoded field with
# what tshark finds in the input (hep-js drops IPv6 addresses: IPv4 only here).
#
# hep-js is installed into tests/e2e/hepjs/node_modules (not committed) with
# `npm ci` from package-lock.json; if it is already there, nothing is installed,
# so the test runs offline once installed.
# Override the capture list with HEPJS_CAPTURES="a.pcap b.pcap" (corpus paths).

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for tool in node tshark "$PY"; do
    command -v "$tool" >/dev/null || fail "$tool not found (Debian packages: nodejs tshark python3)"
done
[ -x "$HEPAGENT" ] || fail "no hepagent at $HEPAGENT"

HEPJS_DIR=$E2E_DIR/hepjs
HEPJS_VERSION=$(sed -n 's/.*"hep-js": *"\([^"]*\)".*/\1/p' "$HEPJS_DIR/package.json")
CAPTURE_ID=4242
NODE_NAME=hepjs-node
read -r -a CAPTURES <<<"${HEPJS_CAPTURES:-udp/zeek_wireshark_sip.pcap udp/sip_body_frames.pcap}"

# ---------------------------------------------------------------------------
# hep-js, installed once (serialised with flock: two test runs may start together)
installed_version() {
    node -e 'try { console.log(require(process.argv[1] + "/node_modules/hep-js/package.json").version) } catch (e) {}' "$HEPJS_DIR"
}
if [ "$(installed_version)" != "$HEPJS_VERSION" ]; then
    command -v npm >/dev/null || fail "hep-js is not installed in $HEPJS_DIR/node_modules and npm is missing"
    note "installing hep-js $HEPJS_VERSION into $HEPJS_DIR/node_modules (npm ci)"
    (
        flock -w 300 9 || exit 1
        if [ "$(installed_version)" != "$HEPJS_VERSION" ]; then
            cd "$HEPJS_DIR" &&
                timeout 240 npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error
        fi
    ) 9<"$HEPJS_DIR/package.json" >"$WORK/npm.log" 2>&1 || {
        cat "$WORK/npm.log" >&2
        fail "npm ci failed in $HEPJS_DIR (offline? run it once with network access)"
    }
    [ "$(installed_version)" = "$HEPJS_VERSION" ] || fail "hep-js $HEPJS_VERSION not installed after npm ci"
fi

# ---------------------------------------------------------------------------
# Expectations from tshark (Python, stdlib only)
cat >"$WORK/hepjs_compare.py" <<'PYEOF'
import json, os, subprocess, sys

def tshark(args):
    p = subprocess.run(["tshark", "-n"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = "\n".join(l for l in p.stderr.decode(errors="replace").splitlines()
                    if "Running as user" not in l)
    if p.returncode != 0 or err.strip():
        sys.exit("tshark %s failed (rc %d): %s" % (" ".join(args), p.returncode, err.strip()))
    return p.stdout

def ts(epoch):
    # "1120469572.844249000" -> [1120469572, 844249], exact (no float)
    sec, _, frac = epoch.partition(".")
    return [int(sec), int((frac + "000000")[:6])]

def last(layers, name, default=None):
    v = layers.get(name)
    return v[-1] if v else default

def sip_messages(path):
    """SIP messages tshark finds in PATH; innermost IPv4/UDP header of each."""
    out = tshark(["-r", path, "-Y", "sip", "-T", "json"] + sum((["-e", f] for f in [
        "frame.number", "frame.protocols", "frame.time_epoch", "ip.src", "ip.dst",
        "udp.srcport", "udp.dstport", "udp.payload", "sip.Call-ID",
        "sip.Request-Line", "sip.Status-Line"]), [])).strip()
    msgs = []
    for pkt in (json.loads(out) if out else []):
        l = pkt["_source"]["layers"]
        num = l["frame.number"][0]
        protos = l["frame.protocols"][0].split(":")
        inner = [p for p in protos if p in ("ip", "ipv6", "udp", "tcp", "sctp")]
        if inner[-2:] != ["ip", "udp"]:
            sys.exit("%s frame %s: SIP not over IPv4/UDP (%s): hep-js test needs IPv4/UDP"
                     % (path, num, ":".join(protos)))
        nmsg = len(l.get("sip.Request-Line", [])) + len(l.get("sip.Status-Line", []))
        if nmsg != 1:
            sys.exit("%s frame %s holds %d SIP messages: not supported" % (path, num, nmsg))
        msgs.append({"file": os.path.basename(path), "frame": int(num),
                     "srcIp": last(l, "ip.src"), "dstIp": last(l, "ip.dst"),
                     "srcPort": int(last(l, "udp.srcport")), "dstPort": int(last(l, "udp.dstport")),
                     "time": ts(l["frame.time_epoch"][0]),
                     "callid": last(l, "sip.Call-ID"),
                     "payload": last(l, "udp.payload", "")})
    return msgs

def compare(jsonl, expected, capture_id, node_name):
    got = [json.loads(line) for line in open(jsonl) if line.strip()]
    errors = []
    if len(got) != len(expected):
        errors.append("hep-js decoded %d packets, the inputs hold %d SIP messages" % (len(got), len(expected)))
    keys = set()
    for i, (e, g) in enumerate(zip(expected, got)):
        where = "packet %d (input %s frame %d)" % (i + 1, e["file"], e["frame"])
        if not g.get("ok"):
            errors.append("%s: hep-js could not decode it: %s (%s...)" % (where, g.get("error"), g.get("hex", "")[:80]))
            continue
        if g["hep_len"] != g["datagram_len"]:
            errors.append("%s: HEP length %d but datagram of %d bytes" % (where, g["hep_len"], g["datagram_len"]))
        rc = g.get("rcinfo") or {}
        keys |= set(rc)
        want = {"protocolFamily": 2, "protocol": 17, "payloadType": 1,
                "srcIp": e["srcIp"], "dstIp": e["dstIp"],
                "srcPort": e["srcPort"], "dstPort": e["dstPort"],
                "timeSeconds": e["time"][0], "timeUseconds": e["time"][1],
                "captureId": capture_id, "correlation_id": e["callid"],
                "hepNodeName": node_name}
        for k, v in want.items():
            if rc.get(k, "<absent>") != v:
                errors.append("%s: rcinfo.%s is %r, expected %r" % (where, k, rc.get(k, "<absent>"), v))
        want_bytes = bytes.fromhex(e["payload"])
        try:
            want_text = want_bytes.decode("utf-8")   # hep-js returns payload as a UTF-8 string
        except UnicodeDecodeError:
            errors.append("%s: input payload is not UTF-8; hep-js cannot return it unchanged" % where)
            continue
        payload = g.get("payload")
        if payload != want_text:
            gb = (payload or "").encode("utf-8")
            k = next((j for j, (x, y) in enumerate(zip(want_bytes, gb)) if x != y), min(len(gb), len(want_bytes)))
            errors.append("%s: payload differs (input %d bytes, hep-js %d bytes, first difference at offset %d: "
                          "input %r, hep-js %r)" % (where, len(want_bytes), len(gb), k,
                                                   want_bytes[k:k + 16], gb[k:k + 16]))
    return got, keys, errors

def main():
    cmd = sys.argv[1]
    if cmd == "expect":        # expect CAPTURE OUT.json -> count
        msgs = sip_messages(sys.argv[2])
        json.dump(msgs, open(sys.argv[3], "w"))
        print(len(msgs))
    elif cmd == "compare":     # compare JSONL CAPTURE_ID NODE_NAME EXPECTED.json...
        expected = []
        for f in sys.argv[5:]:
            expected += json.load(open(f))
        got, keys, errors = compare(sys.argv[2], expected, int(sys.argv[3]), sys.argv[4])
        for e in errors[:20]:
            print("  " + e)
        if len(errors) > 20:
            print("  ... and %d more differences" % (len(errors) - 20))
        if errors:
            sys.exit(1)
        print("hep-js decoded %d packets, all equal to the inputs (rcinfo keys: %s)"
              % (len(got), ", ".join(sorted(keys))))
    else:
        sys.exit("unknown command " + cmd)

main()
PYEOF
check() { "$PY" "$WORK/hepjs_compare.py" "$@"; }

expected_files=()
declare -A expect_n=()
for cap in "${CAPTURES[@]}"; do
    [ -f "$CORPUS/$cap" ] || fail "capture $cap not in $CORPUS"
    f=$WORK/expect.${#expected_files[@]}.json
    n=$(check expect "$CORPUS/$cap" "$f") || fail "could not extract the SIP messages of $cap with tshark"
    [ "$n" -gt 0 ] || fail "tshark finds no SIP message in $cap"
    m=$(awk -F'\t' -v p="$cap" '$1 == p { print $7 }' "$CORPUS/MANIFEST.tsv")
    [ -z "$m" ] || [ "$m" = "$n" ] || fail "tshark finds $n SIP messages in $cap, MANIFEST.tsv says $m"
    expect_n[$cap]=$n
    expected_files+=("$f")
done
[ "${expect_n[udp/zeek_wireshark_sip.pcap]:-81}" = 81 ] ||
    fail "sanity: tshark should find 81 SIP messages in udp/zeek_wireshark_sip.pcap"

# ---------------------------------------------------------------------------
# The hep-js receiver; `timeout -k 2` makes sure it ends even if hep-js hangs.
OUT=$WORK/hepjs.jsonl
timeout -k 2 90 node "$HEPJS_DIR/check.js" --port-file "$WORK/hepjs.port" --out "$OUT" --timeout 60 \
    </dev/null 2>"$WORK/hepjs.stderr" &
RECV_PID=$!
E2E_PIDS+=("$RECV_PID")
wait_for_file "$WORK/hepjs.port" 10
read -r PORT <"$WORK/hepjs.port"
note "hep-js receiver (pid $RECV_PID) on udp:127.0.0.1:$PORT"

total=0
for cap in "${CAPTURES[@]}"; do
    log=$WORK/hepagent.$(basename "$cap").log
    rc=0
    timeout 30 "$HEPAGENT" -r "$CORPUS/$cap" -H "udp://127.0.0.1:$PORT" \
        --capture-id "$CAPTURE_ID" --node-name "$NODE_NAME" --stats 2>"$log" || rc=$?
    [ "$rc" = 0 ] || { cat "$log" >&2; fail "hepagent exited $rc on $cap"; }
    sent=$(awk '$1 == "rules_sent" { print $2 }' "$log")
    [ "$sent" = "${expect_n[$cap]}" ] ||
        fail "hepagent sent ${sent:-?} SIP messages from $cap, tshark finds ${expect_n[$cap]}"
    total=$((total + sent))
    wait_for_lines "$OUT" "$total" 10 ||
        fail "after $cap hep-js received $(wc -l <"$OUT") packets in 10 s, expected $total ($(cat "$WORK/hepjs.stderr"))"
    note "$cap: $sent SIP messages sent, hep-js has decoded $(wc -l <"$OUT")"
done

sleep 0.3 # anything still in flight (a surplus packet would be counted)
kill -TERM "$RECV_PID" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do # up to 5 s
    kill -0 "$RECV_PID" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$RECV_PID" 2>/dev/null && fail "hep-js receiver did not exit within 5 s of SIGTERM"
rc=0
wait "$RECV_PID" || rc=$?
[ "$rc" = 0 ] || fail "hep-js receiver exited with status $rc: $(cat "$WORK/hepjs.stderr")"

check compare "$OUT" "$CAPTURE_ID" "$NODE_NAME" "${expected_files[@]}" ||
    fail "hep-js decoded packets differ from the SIP messages of ${CAPTURES[*]}"
note "PASS hep-js: ${#CAPTURES[@]} captures, $total SIP messages"
