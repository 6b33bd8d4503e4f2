#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# Per-collector compression end to end. One capture (SIP of many sizes, SDP
# bodies among them) is replayed with -r three times into hep_sink over TCP:
#   off   compress false
#   all   compress true, compress_min_bytes 0: every payload compressed
#   some  compress true, compress_min_bytes T, T the median payload size of
#         the "off" run: only payloads of T bytes or more compressed
# Checks: each run delivers the same payloads in the same order, byte for
# byte, as "off"; the sink's compressed flag follows the threshold per
# message; and, apart from hepagent's zlib code (which hep_sink also uses),
# a Python decoder reads the HEP packets as sent (--hep-pcap), finds the
# payload in chunk 0x000f or, compressed, 0x0010 (docs/hep3.md), inflates it
# with Python's zlib and gets the same SIP bytes. Prints the bytes on the
# wire of each run.
#
# Override the capture with COMPRESS_CAPTURE=path (relative to the corpus).

CAPTURE=$CORPUS/${COMPRESS_CAPTURE:-udp/zeek_wireshark_sip.pcap}
[ -x "$HEPAGENT" ] || fail "no hepagent at $HEPAGENT"
[ -f "$CAPTURE" ] || fail "no capture $CAPTURE"

cat >"$WORK/check.py" <<'PYEOF'
import json, struct, sys, zlib

HEP_CHUNK_PAYLOAD = 0x000f
HEP_CHUNK_PAYLOAD_ZLIB = 0x0010

def sink_lines(path):
    out = []
    for line in open(path):
        m = json.loads(line)
        if "error" in m:
            sys.exit("sink could not decode a packet: %s" % line.strip())
        out.append(m)
    return out

def hep_payloads(pcap):
    """(payload bytes, was compressed) of every HEP packet in a pcap of UDP
    frames, decoded here: no hepagent code involved."""
    data = open(pcap, "rb").read()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        sys.exit("%s: not a little-endian pcap" % pcap)
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        at = frame.find(b"HEP3")
        if at < 0:
            sys.exit("%s: a frame without HEP3" % pcap)
        hep = frame[at:]
        total = struct.unpack(">H", hep[4:6])[0]
        if total != len(hep):
            sys.exit("%s: HEP length %d, frame holds %d" % (pcap, total, len(hep)))
        pos, found = 6, []
        while pos + 6 <= total:
            vendor, ctype, clen = struct.unpack(">HHH", hep[pos:pos + 6])
            if clen < 6 or pos + clen > total:
                sys.exit("%s: bad chunk length %d" % (pcap, clen))
            if vendor == 0 and ctype in (HEP_CHUNK_PAYLOAD, HEP_CHUNK_PAYLOAD_ZLIB):
                body = hep[pos + 6:pos + clen]
                if ctype == HEP_CHUNK_PAYLOAD_ZLIB:
                    found.append((zlib.decompress(body), True))
                else:
                    found.append((body, False))
            pos += clen
        if pos != total or len(found) != 1:
            sys.exit("%s: %d payload chunks, chunks end at %d of %d" % (pcap, len(found), pos, total))
        out.append(found[0])
    return out

def threshold(args):
    sizes = sorted(len(bytes.fromhex(m["payload"])) for m in sink_lines(args[0]))
    t = sizes[len(sizes) // 2]
    if not sizes[0] < t <= sizes[-1]:
        sys.exit("no threshold splits sizes %d..%d" % (sizes[0], sizes[-1]))
    print(t)

def check(args):
    ref_jsonl, name, jsonl, pcap, minimum = args[0], args[1], args[2], args[3], args[4]
    ref = [bytes.fromhex(m["payload"]) for m in sink_lines(ref_jsonl)]
    got = sink_lines(jsonl)
    wire = hep_payloads(pcap)
    if len(got) != len(ref) or len(wire) != len(ref):
        sys.exit("%s: %d at the sink, %d in --hep-pcap, %d expected" %
                 (name, len(got), len(wire), len(ref)))
    compressed = 0
    for i, (m, (pl, zipped), want) in enumerate(zip(got, wire, ref)):
        should = minimum is not None and len(want) >= minimum
        if bytes.fromhex(m["payload"]) != want:
            sys.exit("%s: message %d: sink payload differs from the uncompressed run" % (name, i))
        if pl != want:
            sys.exit("%s: message %d: Python-inflated payload differs (%d vs %d bytes)" %
                     (name, i, len(pl), len(want)))
        if m["compressed"] != should or zipped != should:
            sys.exit("%s: message %d (%d bytes): compressed sink=%s wire=%s, expected %s" %
                     (name, i, len(want), m["compressed"], zipped, should))
        compressed += should
    size = sum(m["size"] for m in got)
    print("%s %d %d %d" % (name, len(got), compressed, size))

if __name__ == "__main__":
    if sys.argv[1] == "threshold":
        threshold(sys.argv[2:])
    else:
        a = sys.argv[2:]
        a[4] = None if a[4] == "off" else int(a[4])
        check(a)
PYEOF

# run NAME COMPRESS MIN_BYTES: replays the capture; $WORK/NAME.{jsonl,pcap,stats}
run() {
    local name=$1
    start_sink "$name" -t 0
    cat >"$WORK/$name.json" <<EOF
/* written by tests/e2e/compress.sh */
{
    "agent": { "capture_id": 4004, "log_level": "warn", "shutdown_timeout_ms": 5000 },
    "rules": [ { "name": "all", "action": "send" } ],
    "collectors": [ { "url": "tcp://127.0.0.1:$SINK_TCP_PORT", "compress": $2,
                      "compress_min_bytes": $3 } ]
}
EOF
    "$HEPAGENT" -c "$WORK/$name.json" -r "$CAPTURE" --hep-pcap "$WORK/$name.pcap" --stats \
        2>"$WORK/$name.stats" || { cat "$WORK/$name.stats" >&2; fail "$name: hepagent failed"; }
    local sent
    sent=$(awk '$1 == "hep_packets" {print $2}' "$WORK/$name.stats")
    [ "${sent:-0}" -gt 0 ] || fail "$name: hepagent sent nothing"
    wait_for_lines "$WORK/$name.jsonl" "$sent" 10 || fail "$name: sink got fewer than $sent"
    stop_sink
}

stats_bytes() { awk '$1 ~ /^collector\[.*\]\.sent_bytes$/ {print $2}' "$WORK/$1.stats"; }

note "capture $(basename "$CAPTURE")"
run off false 0
T=$("$PYTHON" "$WORK/check.py" threshold "$WORK/off.jsonl")
run all true 0
run some true "$T"

printf '%-6s %9s %11s %11s %15s\n' run messages compressed sink_bytes stats_sent_bytes
for spec in off:off all:0 some:$T; do
    name=${spec%%:*}
    line=$("$PYTHON" "$WORK/check.py" check "$WORK/off.jsonl" "$name" "$WORK/$name.jsonl" \
        "$WORK/$name.pcap" "${spec#*:}") || fail "$name: the check above failed"
    read -r _ count zipped size <<<"$line"
    printf '%-6s %9d %11d %11d %15d\n' "$name" "$count" "$zipped" "$size" "$(stats_bytes "$name")"
    eval "bytes_$name=$size"
done
note "threshold compress_min_bytes $T"
# shellcheck disable=SC2154  # set by eval above
{
    ((bytes_all < bytes_off)) || fail "compression saved nothing ($bytes_all >= $bytes_off)"
    ((bytes_some < bytes_off)) || fail "threshold run saved nothing ($bytes_some >= $bytes_off)"
    note "wire bytes: off $bytes_off, all $bytes_all ($((100 * bytes_all / bytes_off))%), some $bytes_some ($((100 * bytes_some / bytes_off))%)"
}
echo "PASS"
