#!/usr/bin/env python3
"""Helpers of tests/e2e/media_receivers.sh: what hepagent sent (its --hep-pcap,
decoded here chunk by chunk, independently of hepagent's decoder) against
what a receiver made of it.

usage: media_receivers.py hepjs   HEP_PCAP... -- HEPJS.jsonl
       media_receivers.py kamailio [--report] TABLE TYPE NODE HEP_PCAP...
  hepjs:    every packet hep-js decoded equals the one sent: protocol type,
            addresses, ports, time, capture id, correlation id, and the JSON
            payload of types 5 and 0x22;
  kamailio: the db_text TABLE holds one row per packet of HEP protocol type
            TYPE sent: correlation id, addresses, ports, capture time (date,
            micro_ts as db_text keeps it), node, and the JSON in msg; with
            --report (rows report_capture() wrote from the event route) only
            the correlation id and the JSON: that function stores the
            connection's addresses and not the packet's time.
"""
import json
import socket
import struct
import sys


def hep_packets(path):
    """The HEP packets of a pcap of UDP frames (as --hep-pcap writes them)."""
    data = open(path, "rb").read()
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        l4 = 14 + (40 if frame[12:14] == b"\x86\xdd" else (frame[14] & 15) * 4)
        hep = frame[l4 + 8:]
        chunks, pos = {}, 6
        while pos + 6 <= len(hep):
            vendor, ctype, clen = struct.unpack(">HHH", hep[pos:pos + 6])
            if vendor == 0:
                chunks[ctype] = hep[pos + 6:pos + clen]
            pos += clen
        v6 = chunks[1][0] == 10
        p = {
            "type": chunks[0x0b][0],
            "family": chunks[1][0],
            "src": socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET,
                                    chunks[5 if v6 else 3]),
            "dst": socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET,
                                    chunks[6 if v6 else 4]),
            "sport": struct.unpack(">H", chunks[7])[0],
            "dport": struct.unpack(">H", chunks[8])[0],
            "sec": struct.unpack(">I", chunks[9])[0],
            "usec": struct.unpack(">I", chunks[10])[0],
            "capid": struct.unpack(">I", chunks[0x0c])[0],
            "corr": chunks.get(0x11, b"").decode(),
            "payload": chunks[0x0f],
        }
        out.append(p)
    return out


def hepjs(paths, jsonl):
    sent = [p for path in paths for p in hep_packets(path)]
    got = [json.loads(line) for line in open(jsonl) if line.strip()]
    errors = []
    if len(got) != len(sent):
        errors.append("hep-js decoded %d packets, %d were sent" % (len(got), len(sent)))
    counts = {}
    for i, (s, g) in enumerate(zip(sent, got)):
        counts[s["type"]] = counts.get(s["type"], 0) + 1
        where = "packet %d (type %d)" % (i + 1, s["type"])
        if not g.get("ok"):
            errors.append("%s: hep-js could not decode it: %s" % (where, g.get("error")))
            continue
        rc = g["rcinfo"]
        want = {"payloadType": s["type"], "srcIp": s["src"], "dstIp": s["dst"],
                "srcPort": s["sport"], "dstPort": s["dport"], "timeSeconds": s["sec"],
                "timeUseconds": s["usec"], "captureId": s["capid"], "correlation_id": s["corr"]}
        for k, v in want.items():
            if rc.get(k) != v:
                errors.append("%s: rcinfo.%s is %r, sent %r" % (where, k, rc.get(k), v))
        if s["type"] == 1:
            if g["payload"] != s["payload"].decode():
                errors.append("%s: SIP payload differs" % where)
        elif json.loads(g["payload"]) != json.loads(s["payload"]):
            errors.append("%s: JSON payload differs" % where)
    return errors, "hep-js decoded %d packets as sent (SIP %d, RTCP %d, QoS %d)" % (
        len(got), counts.get(1, 0), counts.get(5, 0), counts.get(0x22, 0))


# db_text rows: fields separated by ':', with \: \\ \n \r \t \0 escaped
UNESC = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("\\"): b"\\", ord("0"): b"\0",
         ord(":"): b":"}


def db_rows(path):
    lines = open(path, "rb").read().split(b"\n")
    cols = [h.split("(")[0] for h in lines[0].decode().split()]
    rows = []
    for line in lines[1:]:
        if not line:
            continue
        fields, cur, i = [], bytearray(), 0
        while i < len(line):
            if line[i] == 0x5C and i + 1 < len(line):
                cur += UNESC.get(line[i + 1], bytes([line[i + 1]]))
                i += 2
                continue
            if line[i] == 0x3A:
                fields.append(bytes(cur))
                cur = bytearray()
            else:
                cur.append(line[i])
            i += 1
        fields.append(bytes(cur))
        rows.append(dict(zip(cols, fields)))
    return rows


def kamailio(table, ptype, node, paths, report):
    sent = [p for path in paths for p in hep_packets(path) if p["type"] == ptype]
    rows = db_rows(table)
    errors = []
    if len(rows) != len(sent):
        errors.append("%s has %d rows, %d packets of type %d were sent" %
                      (table, len(rows), len(sent), ptype))

    def key(p):
        micro = (p["sec"] * 1000000 + p["usec"]) & 0xFFFFFFFF
        micro = micro - (1 << 32) if micro >= 1 << 31 else micro  # db_text: low 32 bits
        if report:
            return (p["corr"], "-", 0, "-", 0, 0, 0, "-", json.dumps(json.loads(p["payload"]),
                                                                    sort_keys=True))
        return (p["corr"], p["src"], p["sport"], p["dst"], p["dport"], p["sec"], micro, node,
                json.dumps(json.loads(p["payload"]), sort_keys=True))

    def row_key(r):
        if report:
            return (r["correlation_id"].decode(), "-", 0, "-", 0, 0, 0, "-",
                    json.dumps(json.loads(r["msg"]), sort_keys=True))
        return (r["correlation_id"].decode(), r["source_ip"].decode(), int(r["source_port"]),
                r["destination_ip"].decode(), int(r["destination_port"]), int(r["date"]),
                int(r["micro_ts"]), r["node"].decode(),
                json.dumps(json.loads(r["msg"]), sort_keys=True))

    want = sorted(map(key, sent))
    have = sorted(map(row_key, rows))
    for w in want:
        if w in have:
            have.remove(w)
        else:
            errors.append("no row for %s:%d -> %s:%d at %d (%s)" % (w[1], w[2], w[3], w[4], w[5],
                                                                     w[0]))
    for h in have:
        errors.append("a row matches nothing sent: %s:%d -> %s:%d at %d (%s)" %
                      (h[1], h[2], h[3], h[4], h[5], h[0]))
    what = "Call-ID, JSON" if report else "Call-ID, addresses, ports, time, node, JSON"
    return errors, "%s: %d rows equal the %d packets of type %d sent (%s)" % (
        table.rsplit("/", 1)[-1], len(rows), len(sent), ptype, what)


def main():
    args = sys.argv[1:]
    if args and args[0] == "hepjs":
        i = args.index("--")
        errors, ok = hepjs(args[1:i], args[i + 1])
    elif args and args[0] == "kamailio":
        report = args[1] == "--report"
        args = args[1 + report:]
        errors, ok = kamailio(args[0], int(args[1], 0), args[2], args[3:], report)
    else:
        sys.exit(__doc__)
    if errors:
        for e in errors[:20]:
            print("  " + e)
        sys.exit(1)
    print("== " + ok)


if __name__ == "__main__":
    main()
