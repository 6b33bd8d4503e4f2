#!/usr/bin/env python3
"""Replays a capture of SIP over TLS (tests/pcap/tls) through hepagent with its
key log and compares what arrived as HEP with what tshark decrypts from the
same capture and key log.

usage: check_tls.py BUILD_DIR CAPTURE [--expect N]

CAPTURE.pcap comes with CAPTURE.keys. Three runs:
  * keys given (--tls-keylog, and -w): every SIP message tshark decrypts
    (`-z follow,tls,raw`, framed by Content-Length, or as WebSocket frames
    after an upgrade) arrives once, byte-identical, in order per direction,
    with the connection's addresses and ports, IP protocol TCP, and the
    capture time of the segment holding the first byte of the TLS record
    that holds the message's first byte (record boundaries and inner types
    from tshark's decryption, their segments from the capture itself); at
    least N messages with --expect N; the frames -w wrote (the connections
    from their handshake on) decrypt with tshark to as many messages;
  * every secret of the key log changed in one hex digit: nothing is sent,
    tls.auth_failures counts one per connection;
  * an empty key log: nothing is sent, tls.records_without_key counts every
    protected record of the capture.
Exit 0 on success; otherwise prints what differed and exits 1.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import check_capture  # noqa: E402
import pcapfile  # noqa: E402


# ---- the capture itself: TCP streams and their TLS records -------------------

def tcp_segments(path):
    """(time 'sec.usec', src, sport, dst, dport, seq, flags, payload) per
    IPv4/IPv6 TCP segment of an Ethernet, cooked or loopback capture."""
    pcap = pcapfile.read_pcap_file(path)
    l2 = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4, 101: 0}[pcap.linktype]
    out = []
    for r in pcap.records:
        f = r.frame[l2:]
        usec = r.frac // 1000 if pcap.nano else r.frac
        when = "%d.%06d" % (r.sec, usec)
        if f[0] >> 4 == 4:
            hl, proto, total = (f[0] & 15) * 4, f[9], struct.unpack(">H", f[2:4])[0]
            src, dst = ".".join(map(str, f[12:16])), ".".join(map(str, f[16:20]))
            f = f[:total]
        else:
            import ipaddress
            hl, proto = 40, f[6]
            src, dst = str(ipaddress.ip_address(f[8:24])), str(ipaddress.ip_address(f[24:40]))
            f = f[:40 + struct.unpack(">H", f[4:6])[0]]
        if proto != 6:
            continue
        t = f[hl:]
        sport, dport, seq = struct.unpack(">HHI", t[:8])
        out.append((when, src, sport, dst, dport, seq, t[13], t[(t[12] >> 4) * 4:]))
    return out


def streams(path):
    """{(src, sport, dst, dport): [(offset, time)]} marks of each direction's
    in-order bytes, and the bytes: loopback captures lose nothing, so
    segments are put in order and retransmissions trimmed."""
    result = {}
    for when, src, sport, dst, dport, seq, flags, payload in tcp_segments(path):
        key = (src, sport, dst, dport)
        st = result.setdefault(key, {"next": None, "data": b"", "marks": []})
        if flags & 2:
            st["next"] = (seq + 1) & 0xffffffff
            continue
        if not payload or st["next"] is None:
            continue
        skip = (st["next"] - seq) & 0xffffffff
        if skip >= len(payload):
            continue
        st["marks"].append((len(st["data"]), when))
        st["data"] += payload[skip:]
        st["next"] = (seq + len(payload)) & 0xffffffff
    return result


def time_at(marks, offset):
    when = marks[0][1]
    for off, t in marks:
        if off > offset:
            break
        when = t
    return when


def records(st):
    """[(type byte, length, start time)] of a direction's TLS records."""
    out, pos, data = [], 0, st["data"]
    while pos + 5 <= len(data):
        length = struct.unpack(">H", data[pos + 3:pos + 5])[0]
        out.append((data[pos], length, time_at(st["marks"], pos)))
        pos += 5 + length
    return out


# ---- tshark's decryption -----------------------------------------------------

def tshark(args):
    return subprocess.run(["tshark", "-n"] + args, check=True, capture_output=True,
                          text=True).stdout


def server_port(path):
    for when, src, sport, dst, dport, seq, flags, payload in tcp_segments(path):
        if flags & 0x12 == 0x12:
            return sport
    sys.exit("check_tls: no SYN-ACK in %s" % path)


def decode_as(port):
    return ["-d", "tcp.port==%d,tls" % port, "-d", "tls.port==%d,sip" % port]


def tshark_records(path, keys, port):
    """{(srcport, dstport): [(inner content type, length)]} of every record,
    decrypted, and {client port: tcp.stream index}."""
    out, stream_of = {}, {}
    for line in tshark(["-r", path, "-o", "tls.keylog_file:" + keys] + decode_as(port) +
                       ["-Y", "tls", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
                        "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e",
                        "tls.record.content_type", "-e", "tls.record.length"]).splitlines():
        stream, sport, dport, types, lengths = line.split("\t")
        sport, dport = int(sport), int(dport)
        stream_of[dport if sport == port else sport] = int(stream)
        out.setdefault((sport, dport), []).extend(
            zip(map(int, types.split(",")), map(int, lengths.split(","))))
    return out, stream_of


def tshark_plaintext(path, keys, port, stream):
    """{'server'|'client': [bytes of each application data record]} of one
    TCP stream."""
    text = tshark(["-r", path, "-o", "tls.keylog_file:" + keys] + decode_as(port) +
                  ["-q", "-z", "follow,tls,raw,%d" % stream])
    node0 = re.search(r"Node 0: (\S+):(\d+)", text)
    out = {"client": [], "server": []}
    for line in text.splitlines():
        if not re.fullmatch(r"\t?[0-9a-f]+", line):
            continue
        from_node0 = not line.startswith("\t")
        from_server = from_node0 == (int(node0.group(2)) == port)
        out["server" if from_server else "client"].append(bytes.fromhex(line.strip()))
    return out


def sip_messages(data):
    """(offset, message) of the SIP messages in a byte stream: Content-Length
    framing, or WebSocket frames after an HTTP upgrade."""
    out, pos = [], 0
    if data.startswith(b"GET ") or data.startswith(b"HTTP/1."):
        pos = data.index(b"\r\n\r\n") + 4
        while pos + 2 <= len(data):
            start, b1 = pos, data[pos + 1]
            n, pos = b1 & 0x7f, pos + 2
            if n == 126:
                n, pos = struct.unpack(">H", data[pos:pos + 2])[0], pos + 2
            mask = data[pos:pos + 4] if b1 & 0x80 else None
            pos += 4 if mask else 0
            payload = data[pos:pos + n]
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            out.append((start, payload))
            pos += n
        return out
    while pos < len(data):
        end = data.index(b"\r\n\r\n", pos) + 4
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", data[pos:end])
        stop = end + (int(m.group(1)) if m else 0)
        out.append((pos, data[pos:stop]))
        pos = stop
    return out


def expected(path, keys):
    """The messages tshark decrypts, per direction, with the capture time of
    their record's first byte."""
    port = server_port(path)
    by_ports, stream_of = tshark_records(path, keys, port)
    want = []
    for (src, sport, dst, dport), st in streams(path).items():
        side = "server" if sport == port else "client"
        plain = tshark_plaintext(path, keys, port, stream_of[dport if sport == port else sport])
        ours = records(st)
        theirs = by_ports.get((sport, dport), [])
        if [n for _, n, _ in ours] != [n for _, n in theirs]:
            sys.exit("check_tls: %s:%d: the capture's records %s, tshark's %s" % (
                src, sport, [n for _, n, _ in ours], [n for _, n in theirs]))
        times = [when for (_, _, when), (inner, _) in zip(ours, theirs) if inner == 23]
        chunks = plain[side]
        if len(times) != len(chunks):
            sys.exit("check_tls: %s:%d: %d application records, tshark follows %d" % (
                src, sport, len(times), len(chunks)))
        marks, data = [], b""
        for when, chunk in zip(times, chunks):
            marks.append((len(data), when))
            data += chunk
        for off, msg in sip_messages(data):
            want.append({"src": src, "sport": sport, "dst": dst, "dport": dport,
                         "time": time_at(marks, off), "payload": msg})
    return want


def protected_records(path, tls13):
    """Records a key is needed for: TLS 1.3's application_data records, TLS
    1.2's records after ChangeCipherSpec."""
    n = 0
    for st in streams(path).values():
        seen_ccs = False
        for t, length, _ in records(st):
            if t == 20:
                seen_ccs = True
            elif (tls13 and t == 23) or (not tls13 and seen_ccs):
                n += 1
    return n


# ---- the runs ----------------------------------------------------------------

def run(build, capture, keys, work, extra=()):
    args = ["--tls-keylog", keys, "-c", os.path.join(HERE, "rules_all.json")] + list(extra)
    return check_capture.run_agent(build, capture, args, work)


def main():
    build, capture = sys.argv[1], sys.argv[2]
    at_least = int(sys.argv[sys.argv.index("--expect") + 1]) if "--expect" in sys.argv else 1
    keys = os.path.splitext(capture)[0] + ".keys"
    errors = []
    want = expected(capture, keys)
    if len(want) < at_least:
        errors.append("tshark decrypts %d SIP messages, expected at least %d" % (len(want),
                                                                                at_least))
    with tempfile.TemporaryDirectory() as work:
        written = os.path.join(work, "w.pcap")
        packets, stats = run(build, capture, keys, work, ["-w", written])
        got = [{"src": p["src"], "sport": p["sport"], "dst": p["dst"], "dport": p["dport"],
                "time": "%d.%06d" % (p["sec"], p["usec"]), "proto": p["proto"],
                "payload": bytes.fromhex(p["payload"])} for p in packets]
        flow = lambda m: (m["src"], m["sport"], m["dst"], m["dport"])  # noqa: E731
        for direction in {flow(w) for w in want} | {flow(g) for g in got}:
            name = "%s:%d -> %s:%d" % direction
            ws = [w for w in want if flow(w) == direction]
            gs = [g for g in got if flow(g) == direction]
            if len(ws) != len(gs):
                errors.append("%s: sent %d messages, tshark decrypts %d" % (name, len(gs), len(ws)))
            for i, (w, g) in enumerate(zip(ws, gs)):
                if g["payload"] != w["payload"]:
                    errors.append("%s message %d differs: ours %r..., tshark %r..." % (
                        name, i, g["payload"][:60], w["payload"][:60]))
                if g["time"] != w["time"]:
                    errors.append("%s message %d: time %s, its record's first byte %s" % (
                        name, i, g["time"], w["time"]))
                if g["proto"] != 6:
                    errors.append("%s message %d: IP protocol %s" % (name, i, g["proto"]))
        if stats.get("tls.auth_failures") != "0":
            errors.append("tls.auth_failures %s with the right keys" % stats.get(
                "tls.auth_failures"))
        sessions = int(stats.get("tls.sessions", "0"))
        # -w wrote the connections from their handshake on: tshark decrypts them again
        port = server_port(capture)
        cseqs = tshark(["-r", written, "-o", "tls.keylog_file:" + keys] + decode_as(port) +
                       ["-Y", "sip", "-T", "fields", "-e", "sip.CSeq", "-E", "occurrence=a",
                        "-E", "aggregator=|"])
        found = sum(len([c for c in line.split("|") if c]) for line in cseqs.splitlines())
        if found != len(want):
            errors.append("-w: tshark decrypts %d SIP messages from the written frames, %d "
                          "expected" % (found, len(want)))

        # every secret one hex digit off: the tags must fail, nothing sent
        wrong = os.path.join(work, "wrong.keys")
        with open(keys) as f, open(wrong, "w") as out:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    last = parts[2][-1]
                    parts[2] = parts[2][:-1] + ("0" if last != "0" else "1")
                    line = " ".join(parts) + "\n"
                out.write(line)
        packets, stats = run(build, capture, wrong, work)
        if packets:
            errors.append("wrong keys: %d HEP packets sent" % len(packets))
        if stats.get("tls.auth_failures") != str(sessions):
            errors.append("wrong keys: tls.auth_failures %s, expected %d" % (
                stats.get("tls.auth_failures"), sessions))

        # no keys: nothing sent, every protected record counted
        empty = os.path.join(work, "empty.keys")
        open(empty, "w").close()
        packets, stats = run(build, capture, empty, work)
        protected = protected_records(capture, "TRAFFIC_SECRET" in open(keys).read())
        if packets:
            errors.append("no keys: %d HEP packets sent" % len(packets))
        if stats.get("tls.records_without_key") != str(protected):
            errors.append("no keys: tls.records_without_key %s, the capture has %d protected "
                          "records" % (stats.get("tls.records_without_key"), protected))
    if errors:
        print("FAIL %s:\n  %s" % (capture, "\n  ".join(errors)))
        sys.exit(1)
    print("ok %s: %d messages, %d sessions" % (capture, len(want), sessions))


if __name__ == "__main__":
    main()
