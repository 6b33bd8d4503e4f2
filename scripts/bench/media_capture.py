#!/usr/bin/env python3
"""Writes the live media benchmark's capture: calls that start at a steady
pace, each with its SIP (INVITE, 100, 180, 200 with SDP, ACK, BYE, 200) and
G.711 RTP both ways for its duration, interleaved by capture time, so that a
replay at a fixed packet rate carries SIP and RTP in a steady mix.

  media_capture.py OUTPUT [--calls C] [--duration D] [--ptime MS] [--meta FILE]

C calls are up at once (after a ramp of D seconds): 2*C calls start evenly
over 2*D seconds and each lasts D seconds (those that would outlast the
capture have no BYE). With the defaults (C 1000, D 7 s, ptime 10 ms) the
steady state carries 1000 SIP messages/s and 200 000 RTP packets/s. Every
call has its own Call-ID, addresses and ports; RTP streams are 2 per call.
The JSON (--meta, also printed) says what a receiver must count: records,
sip_messages, rtp_packets, calls, streams. Deterministic; Python standard
library only; written as it goes.
"""
import argparse
import heapq
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "tools"))
from gen_captures import inet_csum as checksum  # noqa: E402  (the IP header checksum)

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
SIP_A, SIP_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
START = 1700000000 * 1000000


def frame(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return MAC_B + MAC_A + b"\x08\x00" + ip + udp


def sdp(ip, port):
    a = "%d.%d.%d.%d" % tuple(ip)
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=ptime:10\r\n" % (a, a, port))


def sip(first, call, cseq, method, body=None, to_tag=True):
    lines = [first, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-%d-%s" % (call, method),
             "From: <sip:a%d@10.0.0.1>;tag=f%d" % (call, call),
             "To: <sip:b%d@10.0.0.2>%s" % (call, ";tag=t%d" % call if to_tag else ""),
             "Call-ID: bench-%08d@10.0.0.1" % call, "CSeq: %d %s" % (cseq, method),
             "Max-Forwards: 70"]
    if body:
        lines += ["Content-Type: application/sdp", "Content-Length: %d" % len(body), "", body]
    else:
        lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def media_addr(call, side):
    """Each call its own media addresses: 10.1.x.y (caller), 10.2.x.y (callee)."""
    return bytes([10, 1 + side, (call >> 8) & 255, call & 255]), 20000 + 2 * (call % 20000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=7.0)
    ap.add_argument("--ptime", type=int, default=10)
    ap.add_argument("--meta")
    a = ap.parse_args()
    total_calls = 2 * a.calls
    span_us = int(2 * a.duration * 1000000)
    life_us = int(a.duration * 1000000)
    gap_us = span_us // total_calls
    ptime_us = a.ptime * 1000
    samples = 8 * a.ptime  # G.711: 8 samples (bytes) a ms
    payload = b"\xd5" * samples
    events = []  # (time, order, kind, call, extra)
    for c in range(total_calls):
        t0 = c * gap_us
        heapq.heappush(events, (t0, c, "invite", c, 0))
    counts = {"records": 0, "sip_messages": 0, "rtp_packets": 0}
    with open(a.output, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def write(t, fr):
            ts = START + t
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)) + fr)
            counts["records"] += 1

        def sip_out(t, fwd, msg):
            src, dst = (SIP_A, SIP_B) if fwd else (SIP_B, SIP_A)
            write(t, frame(src, dst, 5060, 5060, msg))
            counts["sip_messages"] += 1

        while events:
            t, order, kind, c, n = heapq.heappop(events)
            if t >= span_us:
                continue
            (ca, cp), (ba, bp) = media_addr(c, 0), media_addr(c, 1)
            if kind == "invite":
                uri = "sip:b%d@10.0.0.2 SIP/2.0" % c
                sip_out(t, 1, sip("INVITE " + uri, c, 1, "INVITE", sdp(ca, cp), to_tag=False))
                sip_out(t + 1000, 0, sip("SIP/2.0 100 Trying", c, 1, "INVITE", to_tag=False))
                sip_out(t + 2000, 0, sip("SIP/2.0 180 Ringing", c, 1, "INVITE"))
                sip_out(t + 3000, 0, sip("SIP/2.0 200 OK", c, 1, "INVITE", sdp(ba, bp)))
                sip_out(t + 4000, 1, sip("ACK " + uri, c, 1, "ACK"))
                heapq.heappush(events, (t + 5000, order, "rtp", c, 0))
                heapq.heappush(events, (t + life_us, order, "bye", c, 0))
            elif kind == "rtp":
                if t >= (c * gap_us) + life_us:
                    continue
                for side in (0, 1):
                    src, sport, dst, dport = (ca, cp, ba, bp) if side == 0 else (ba, bp, ca, cp)
                    rtp = struct.pack("!BBHII", 0x80, 8, (n + 1000 * side) & 0xFFFF,
                                      (n * samples) & 0xFFFFFFFF, (c << 1 | side) + 1) + payload
                    write(t + 3 * side, frame(src, dst, sport, dport, rtp))
                    counts["rtp_packets"] += 1
                heapq.heappush(events, (t + ptime_us, order, "rtp", c, n + 1))
            else:  # bye
                sip_out(t, 1, sip("BYE sip:b%d@10.0.0.2 SIP/2.0" % c, c, 2, "BYE"))
                sip_out(t + 1000, 0, sip("SIP/2.0 200 OK", c, 2, "BYE"))
    counts.update({"calls": total_calls, "streams": 2 * total_calls,
                   "calls_requested": a.calls, "duration_s": a.duration, "ptime_ms": a.ptime,
                   "span_s": span_us / 1e6})
    text = json.dumps(counts, indent=1)
    if a.meta:
        with open(a.meta, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
