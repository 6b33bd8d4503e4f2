#!/usr/bin/env python3
"""Replicates a small SIP recording (pcap, Ethernet/IPv4, UDP or TCP) into a large
capture with distinct Call-IDs, deterministically (same input and options, same
output bytes).

  replicate.py INPUT OUTPUT --calls N [--meta FILE.json] [--port-base P]

The recording is copied R = ceil(N / calls-in-recording) times, one copy after
the other; copy r:
  * every Call-ID (Call-ID: or i: header) has its local part, before '@',
    replaced by a same-length base-36 token of r * calls + i (i: the call's
    index in the recording), so no length field changes and every call of the
    output has its own Call-ID;
  * TCP: every connection's client port (the side that sent the SYN; without
    one, the side that is not the lower port) becomes P + r * connections + k,
    so each copy is a stream of its own; UDP ports are kept;
  * timestamps are shifted by r * (span of the recording + 1 ms), so they
    keep increasing;
  * UDP and TCP checksums are recomputed (UDP checksum 0 stays 0).
A header split across TCP segments would escape the rewrite: the script
checks that it rewrote one Call-ID per SIP message and stops otherwise.

The JSON written to --meta (and printed) says what a receiver must count:
records (frames, what the floor program sends), sip_messages (what a SIP
capture agent must send), calls, replicas, transport.
Python 3 standard library only.
"""
import argparse
import array
import json
import math
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "tools"))
import pcapfile  # noqa: E402

LINKTYPE_ETHERNET = 1
CALLID_RE = re.compile(rb"(\r\n|^)((?:call-id|i)[ \t]*:[ \t]*)([^@\r\n]+)", re.I)
START_RE = re.compile(rb"(?:[A-Z]+ [^ \r\n]+ SIP/2\.0\r\n|SIP/2\.0 [0-9]{3} )")
CLEN_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)", re.I)
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def read_pcap(path):
    pcap = pcapfile.read_pcap_file(path)
    if pcap is None:
        sys.exit("replicate: %s: not a classic pcap file (pcapng is not supported)" % path)
    if pcap.linktype != LINKTYPE_ETHERNET:
        sys.exit("replicate: %s: link type %d, only Ethernet (1) is supported"
                 % (path, pcap.linktype))
    if pcap.truncated:
        sys.exit("replicate: %s: truncated record" % path)
    recs = [[r.sec, r.frac, r.wirelen, r.frame] for r in pcap.records]
    return pcap.header, pcap.endian, pcap.nano, recs


def checksum(buf):
    """Internet checksum of buf, as the two bytes to store (native-order sum,
    stored native: byte order independent, RFC 1071)."""
    if len(buf) & 1:
        buf += b"\0"
    s = sum(array.array("H", buf))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("=H", ~s & 0xFFFF)


class Frame:
    """Offsets of one Ethernet/IPv4 frame's parts."""

    def __init__(self, frame):
        self.ok = False
        if len(frame) < 34:
            return
        eth_type = struct.unpack_from("!H", frame, 12)[0]
        l3 = 14
        while eth_type in (0x8100, 0x88A8) and len(frame) >= l3 + 4:
            eth_type = struct.unpack_from("!H", frame, l3 + 2)[0]
            l3 += 4
        if eth_type != 0x0800 or frame[l3] >> 4 != 4:
            return
        ihl = (frame[l3] & 15) * 4
        total = struct.unpack_from("!H", frame, l3 + 2)[0]
        frag = struct.unpack_from("!H", frame, l3 + 6)[0]
        if frag & 0x3FFF:
            return  # fragments are copied as they are
        self.proto = frame[l3 + 9]
        self.l3 = l3
        self.l4 = l3 + ihl
        self.end = min(len(frame), l3 + total)
        if self.proto == 17 and self.end >= self.l4 + 8:
            self.payload = self.l4 + 8
        elif self.proto == 6 and self.end >= self.l4 + 20:
            self.payload = self.l4 + (frame[self.l4 + 12] >> 4) * 4
            self.flags = frame[self.l4 + 13]
            self.seq = struct.unpack_from("!I", frame, self.l4 + 4)[0]
        else:
            return
        self.sport, self.dport = struct.unpack_from("!HH", frame, self.l4)
        self.src = frame[l3 + 12:l3 + 16]
        self.dst = frame[l3 + 16:l3 + 20]
        self.ok = self.end <= len(frame)  # checksums need the whole datagram


def count_messages(stream):
    """SIP messages in a reassembled TCP byte stream (framed by Content-Length)."""
    n = 0
    pos = 0
    while True:
        while stream.startswith(b"\r\n", pos):  # keepalives
            pos += 2
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return n
        m = CLEN_RE.search(stream, pos - 2 if pos >= 2 else pos, end + 2)
        body = int(m.group(1)) if m else 0
        if START_RE.match(stream, pos):
            n += 1
        pos = end + 4 + body


def analyse(recs):
    """Call-IDs (in order of appearance), TCP connections and their client
    side, and the number of SIP messages in the recording."""
    callids = {}
    conns = {}  # (client ip, client port, server ip, server port) -> index
    client_of = {}  # sorted endpoint pair -> (client ip, client port)
    streams = {}  # direction -> {seq: payload}
    udp_messages = 0
    frames = []
    for rec in recs:
        fr = Frame(rec[3])
        frames.append(fr)
        if not fr.ok:
            continue
        payload = rec[3][fr.payload:fr.end]
        for m in CALLID_RE.finditer(payload):
            full = m.group(3).rstrip(b" \t")
            callids.setdefault(full, len(callids))
        if fr.proto == 17:
            if START_RE.match(payload):
                udp_messages += 1
            continue
        a, b = (fr.src, fr.sport), (fr.dst, fr.dport)
        key = tuple(sorted([a, b]))
        if key not in client_of and fr.flags & 0x12 == 0x02:  # SYN without ACK
            client_of[key] = a
        if payload:
            streams.setdefault((a, b), {}).setdefault(fr.seq, payload)
    for fr in frames:
        if not fr.ok or fr.proto != 6:
            continue
        a, b = (fr.src, fr.sport), (fr.dst, fr.dport)
        key = tuple(sorted([a, b], key=lambda e: (e[1], e[0])))
        skey = tuple(sorted([a, b]))
        client = client_of.get(skey, key[1])  # no SYN seen: the higher port
        if skey not in conns:
            conns[skey] = (len(conns), client)
    tcp_messages = 0
    for segs in streams.values():
        data = b"".join(segs[s] for s in sorted(segs))  # loopback: no gaps expected
        tcp_messages += count_messages(data)
    return callids, conns, udp_messages + tcp_messages


def token(value):
    """value in base 36."""
    digits = []
    while True:
        value, d = divmod(value, 36)
        digits.append(B36[d])
        if not value:
            return "".join(reversed(digits)).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--calls", type=int, required=True, help="at least this many calls")
    ap.add_argument("--meta", help="write the counts as JSON here")
    ap.add_argument("--port-base", type=int, default=20000, help="first TCP client port")
    args = ap.parse_args()

    header, endian, nano, recs = read_pcap(args.input)
    callids, conns, messages = analyse(recs)
    ncalls = len(callids)
    if ncalls == 0 or not recs:
        sys.exit("replicate: no SIP call in %s" % args.input)
    replicas = max(1, math.ceil(args.calls / ncalls))
    if conns and args.port_base + replicas * len(conns) > 65536:
        sys.exit("replicate: %d replicas x %d connections do not fit the client ports from %d"
                 % (replicas, len(conns), args.port_base))
    unit = 1000000000 if nano else 1000000
    t0 = recs[0][0] * unit + recs[0][1]
    t1 = max(r[0] * unit + r[1] for r in recs)
    step = (t1 - t0) + unit // 1000
    rec_hdr = struct.Struct(endian + "IIII")
    order = sorted(callids, key=callids.get)
    transport = "tcp" if conns else "udp"

    # Per record: the parts that never change, and where Call-IDs and ports go.
    plans = []
    for rec in recs:
        frame = rec[3]
        fr = Frame(frame)
        if not fr.ok:
            plans.append(None)
            continue
        spans = []  # (start, end, call index) of Call-ID local parts in the frame
        payload = frame[fr.payload:fr.end]
        for m in CALLID_RE.finditer(payload):
            full = m.group(3).rstrip(b" \t")
            spans.append((fr.payload + m.start(3), fr.payload + m.start(3) + len(full),
                          callids[full]))
        port_side = None  # 0: source port is the client's, 1: destination
        conn_index = 0
        if fr.proto == 6:
            skey = tuple(sorted([(fr.src, fr.sport), (fr.dst, fr.dport)]))
            conn_index, client = conns[skey]
            port_side = 0 if client == (fr.src, fr.sport) else 1
        cksum_zero = fr.proto == 17 and frame[fr.l4 + 6:fr.l4 + 8] == b"\0\0"
        pseudo = fr.src + fr.dst + struct.pack("!BBH", 0, fr.proto, fr.end - fr.l4)
        plans.append((fr, spans, port_side, conn_index, cksum_zero, pseudo))

    rewritten_per_replica = sum(len(p[1]) for p in plans if p)
    if rewritten_per_replica != messages:
        sys.exit("replicate: found %d Call-ID headers for %d SIP messages (a header split "
                 "across segments?)" % (rewritten_per_replica, messages))

    out = open(args.output, "wb")
    out.write(header)
    chunks = []
    written = 0
    for r in range(replicas):
        tokens = [token(r * ncalls + i) for i in range(ncalls)]
        shift = r * step
        for rec, plan in zip(recs, plans):
            sec, frac, wirelen, frame = rec
            t = sec * unit + frac + shift
            if plan is None:
                chunks.append(rec_hdr.pack(t // unit, t % unit, len(frame), wirelen))
                chunks.append(frame)
                continue
            fr, spans, port_side, conn_index, cksum_zero, pseudo = plan
            buf = bytearray(frame)
            for start, end, ci in spans:
                width = end - start
                tok = tokens[ci]
                if len(tok) > width:
                    sys.exit("replicate: call %d does not fit Call-ID %r"
                             % (r * ncalls + ci, order[ci]))
                buf[start:end] = tok.rjust(width, b"0")
            if fr.proto == 6:
                port = args.port_base + r * len(conns) + conn_index
                struct.pack_into("!H", buf, fr.l4 + 2 * port_side, port)
                buf[fr.l4 + 16:fr.l4 + 18] = b"\0\0"
                buf[fr.l4 + 16:fr.l4 + 18] = checksum(pseudo + bytes(buf[fr.l4:fr.end]))
            elif not cksum_zero:
                buf[fr.l4 + 6:fr.l4 + 8] = b"\0\0"
                c = checksum(pseudo + bytes(buf[fr.l4:fr.end]))
                buf[fr.l4 + 6:fr.l4 + 8] = c if c != b"\0\0" else b"\xff\xff"
            chunks.append(rec_hdr.pack(t // unit, t % unit, len(buf), wirelen))
            chunks.append(bytes(buf))
        if len(chunks) > 20000:
            out.write(b"".join(chunks))
            chunks = []
        written += len(recs)
    out.write(b"".join(chunks))
    out.close()

    meta = {
        "input": args.input,
        "output": args.output,
        "transport": transport,
        "replicas": replicas,
        "calls": replicas * ncalls,
        "calls_requested": args.calls,
        "records": replicas * len(recs),
        "sip_messages": replicas * messages,
        "recording": {"records": len(recs), "calls": ncalls, "sip_messages": messages,
                      "tcp_connections": len(conns)},
    }
    text = json.dumps(meta, sort_keys=True)
    if args.meta:
        with open(args.meta, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
