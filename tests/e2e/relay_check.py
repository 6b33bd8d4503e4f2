#!/usr/bin/env python3
"""Helpers of tests/e2e/relay.sh (standard library only).

  relay_check.py expect OUT.json HEP_PCAP...     the HEP packets an agent queued
                                                 (--hep-pcap) as comparable records
  relay_check.py compare EXPECT.json SINK.jsonl [--extra N]
                                                 every expected message arrived exactly
                                                 once; N more (other senders) allowed
  relay_check.py hepjs HEPJS.jsonl SINK.jsonl    hep-js decoded what the sink got
  relay_check.py sngrep DUMP.pcap SINK.jsonl     sngrep -L received what the sink got
  relay_check.py corpus DIR HOST UDP_PORT TCP_PORT REPEAT
                                                 throws the malformed corpus at both
                                                 inputs, prints the expected counts
  relay_check.py loris HOST TCP_PORT SECONDS     a slow-loris client: a header begun,
                                                 then one byte every 0.5 s
  relay_check.py stats STATS_FILE NAME...        prints the values of counters
"""
import collections
import glob
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import pcapfile  # noqa: E402


def hep_chunks(b):
    """{(vendor, type): [data...]} of a HEP3 packet (checked framing)."""
    if b[:4] != b"HEP3" or struct.unpack(">H", b[4:6])[0] != len(b):
        raise ValueError("not a HEP3 packet")
    out, off = collections.defaultdict(list), 6
    while off < len(b):
        v, t, n = struct.unpack(">HHH", b[off:off + 6])
        if n < 6 or off + n > len(b):
            raise ValueError("bad chunk")
        out[(v, t)].append(b[off + 6:off + n])
        off += n
    return out


def record(c):
    """What must survive a relay: addresses, ports, time, type, id, correlation, payload."""
    g = lambda t: c.get((0, t), [b""])[0]
    fam = g(1)[0]
    src, dst = (g(3), g(4)) if fam == 2 else (g(5), g(6))
    return {"src": socket.inet_ntop(socket.AF_INET if fam == 2 else socket.AF_INET6, src),
            "dst": socket.inet_ntop(socket.AF_INET if fam == 2 else socket.AF_INET6, dst),
            "sport": struct.unpack(">H", g(7))[0], "dport": struct.unpack(">H", g(8))[0],
            "sec": struct.unpack(">I", g(9))[0], "usec": struct.unpack(">I", g(10))[0],
            "ptype": g(11)[0], "capid": struct.unpack(">I", g(12))[0],
            "corr": g(17).decode("latin1"), "payload": g(15).hex()}


def key(r):
    return (r["src"], r["sport"], r["dst"], r["dport"], r["sec"], r["usec"], r["ptype"],
            r["capid"], r.get("corr") or "", r["payload"])


def cmd_expect(out, paths):
    recs = []
    for p in paths:
        cap = pcapfile.read_pcap_file(p)
        for r in cap.records:
            f = r.frame
            ip = 14
            ihl = (f[ip] & 15) * 4 if f[12:14] == b"\x08\x00" else 40
            recs.append(record(hep_chunks(f[ip + ihl + 8:])))
    json.dump(recs, open(out, "w"))
    print(len(recs))


def sink_records(path):
    recs = []
    for line in open(path):
        j = json.loads(line)
        recs.append({"src": j["src"], "dst": j["dst"], "sport": j["sport"], "dport": j["dport"],
                     "sec": j["sec"], "usec": j["usec"], "ptype": j["ptype"],
                     "capid": j["capid"], "corr": j.get("corr") or "", "payload": j["payload"]})
    return recs


def cmd_compare(expect, sink, extra):
    want = collections.Counter(key(r) for r in json.load(open(expect)))
    got = collections.Counter(key(r) for r in sink_records(sink))
    missing = want - got
    doubled = {k: n for k, n in got.items() if k in want and n > want[k]}
    others = sum((got - want).values())
    if missing:
        sys.exit("%d of %d expected messages never arrived, e.g. %s" %
                 (sum(missing.values()), sum(want.values()), next(iter(missing))[:6]))
    if doubled:
        sys.exit("%d messages arrived more than once, e.g. %s" %
                 (len(doubled), next(iter(doubled))[:6]))
    if others != extra:
        sys.exit("%d messages arrived that no agent sent (want %d)" % (others, extra))
    print("%d expected messages arrived once each, %d from other senders" %
          (sum(want.values()), others))


def cmd_hepjs(hepjs, sink):
    # hep-js 1.0.22 leaves IPv6 addresses out: ports, time and payload are compared
    got, refused = collections.Counter(), collections.Counter()
    for line in open(hepjs):
        j = json.loads(line)
        if not j.get("ok"):
            # hep-js ignores vendor ids (as heplify-server does): another vendor's
            # chunk with a generic type number and another size makes it give up.
            # The relay passes such chunks on untouched; that is all it may do.
            c = hep_chunks(bytes.fromhex(j["hex"]))
            if not any(v not in (0, 0x4841) and t < 64 for (v, t) in c):
                sys.exit("hep-js could not decode a packet: %s" % j.get("error"))
            r = record(c)
            refused[(r["sport"], r["dport"], r["sec"], r["usec"], r["payload"])] += 1
            continue
        ri = j["rcinfo"]
        got[(ri["srcPort"], ri["dstPort"], ri["timeSeconds"], ri.get("timeUseconds", 0),
             j["payload"].encode("utf-8").hex())] += 1
    want = collections.Counter((r["sport"], r["dport"], r["sec"], r["usec"], r["payload"])
                               for r in sink_records(sink))
    if refused - want:
        sys.exit("hep-js refused packets the sink never got")
    want -= refused
    if got != want:
        sys.exit("hep-js decoded %d packets, %d differ from the %d the sink got" %
                 (sum(got.values()), sum((got - want).values()) + sum((want - got).values()),
                  sum(want.values())))
    print("hep-js decoded the same %d packets (and refused %d with another vendor's chunks of a "
          "generic type)" % (sum(got.values()), sum(refused.values())))


def cmd_sngrep(dump, sink):
    # sngrep -L writes IPv4/UDP frames: what came over IPv6 may be left out
    cap = pcapfile.read_pcap_file(dump)
    got = collections.Counter()
    for r in cap.records:
        f = r.frame
        ihl = (f[14] & 15) * 4
        got[f[14 + ihl + 8:].hex()] += 1
    recs = sink_records(sink)
    want = collections.Counter(r["payload"] for r in recs if "." in r["src"])
    v6 = collections.Counter(r["payload"] for r in recs if "." not in r["src"])
    if want - got or (got - want) - v6:
        sys.exit("sngrep -L wrote %d packets; of the %d IPv4 ones the sink got, %d are missing, "
                 "%d are extra" % (sum(got.values()), sum(want.values()),
                                   sum((want - got).values()), sum(((got - want) - v6).values())))
    print("sngrep -L received the same %d IPv4 packets" % sum(want.values()))


def cmd_corpus(d, host, uport, tport, repeat):
    counts = collections.Counter()
    files = sorted(glob.glob(os.path.join(d, "*.bin")))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(repeat):
        for f in files:
            b = open(f, "rb").read()
            name = os.path.basename(f)
            reason = name.split("__")[0]
            u.sendto(b, (host, uport))
            counts["udp." + reason] += 1
            # a stream frames by the header's length: a file whose length agrees
            # gets its reason there too; the others are framed differently
            v3 = b[:4] in (b"HEP3", b"EEP3") and len(b) >= 6
            if v3 and struct.unpack(">H", b[4:6])[0] == len(b):
                counts["tcp." + reason] += 1
            elif "trailing_garbage" in name:
                counts["tcp.ok"] += 1  # the packet, then garbage closes
            elif "shorter_than_datagram" in name:
                counts["tcp.chunk_overrun"] += 1  # the packet cut by its own length
            # over TCP each file on its own connection: garbage closes it
            t = socket.create_connection((host, tport))
            t.sendall(b)
            t.shutdown(socket.SHUT_WR)
            t.settimeout(5)
            try:
                while t.recv(4096):
                    pass
            except OSError:
                pass
            t.close()
            time.sleep(0.002)
    for k in sorted(counts):
        print(k, counts[k])


def cmd_loris(host, port, seconds):
    s = socket.create_connection((host, port))
    s.sendall(b"HEP3\x01")  # a header begun...
    end = time.time() + seconds
    closed = False
    while time.time() < end:
        time.sleep(0.5)
        try:
            s.sendall(b"\x00")  # ...fed one byte at a time, never finished
        except OSError:
            closed = True
            break
    print("closed by the relay" if closed else "still open")


def cmd_stats(path, names):
    vals = {}
    for line in open(path):
        parts = line.strip().split(" ")
        if len(parts) == 2 and parts[1].isdigit():
            vals[parts[0]] = int(parts[1])
    for n in names:
        print(vals.get(n, 0))


def main():
    c = sys.argv[1]
    a = sys.argv[2:]
    if c == "expect":
        cmd_expect(a[0], a[1:])
    elif c == "compare":
        cmd_compare(a[0], a[1], int(a[3]) if len(a) > 3 else 0)
    elif c == "hepjs":
        cmd_hepjs(a[0], a[1])
    elif c == "sngrep":
        cmd_sngrep(a[0], a[1])
    elif c == "corpus":
        cmd_corpus(a[0], a[1], int(a[2]), int(a[3]), int(a[4]))
    elif c == "loris":
        cmd_loris(a[0], int(a[1]), float(a[2]))
    elif c == "stats":
        cmd_stats(a[0], a[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
