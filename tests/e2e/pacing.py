#!/usr/bin/env python3
"""pacing.py: captures with known gaps, and a receiver that notes when each
message arrives (the --realtime and --pps tests).

  pacing.py make OUT.pcap OFFSET_MS...   one SIP OPTIONS per offset (raw IPv4,
                                         UDP to port 5060, Call-ID pace-N), at
                                         1700000000 s + OFFSET_MS
  pacing.py make-n OUT.pcap COUNT        COUNT of them, all at the same time
  pacing.py replay OUT COUNT CAPTURE HEPAGENT [ARGS...]
                                         binds UDP on 127.0.0.1 (a free port),
                                         runs HEPAGENT -r CAPTURE -H udp://
                                         to it, ARGS..., notes the kernel's
                                         receive time of each HEP packet
                                         (SO_TIMESTAMPNS: not when this script
                                         got round to reading it) with its
                                         Call-ID, until COUNT arrived or 1 s
                                         after hepagent exited; writes JSON
                                         [[call-id, seconds], ...] to OUT;
                                         exits 1 if hepagent failed"""
import json
import re
import socket
import struct
import subprocess
import sys
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: 35 (Python 3.11 lacks the name)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(n):
    sip = (f"OPTIONS sip:probe@192.0.2.2 SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK-{n}\r\n"
           f"From: <sip:pace@192.0.2.1>;tag={n}\r\nTo: <sip:probe@192.0.2.2>\r\n"
           f"Call-ID: pace-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
    udp = struct.pack("!HHHH", 5062, 5060, 8 + len(sip), 0) + sip
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                     bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + udp


def make(out, offsets_ms):
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for n, off in enumerate(offsets_ms):
            us = 1700000000 * 1000000 + round(off * 1000)
            data = frame(n)
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(data), len(data)) + data)


def replay(out, count, capture, hepagent, args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.05)
    url = "udp://127.0.0.1:%d" % s.getsockname()[1]
    agent = subprocess.Popen([hepagent, "-r", capture, "-H", url] + args, stderr=subprocess.PIPE)
    got, end = [], None
    while len(got) < count and (end is None or time.monotonic() < end):
        if end is None and agent.poll() is not None:
            end = time.monotonic() + 1  # what is still in flight
        try:
            data, anc, _, _ = s.recvmsg(65535, 1024)
        except socket.timeout:
            continue
        t = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                t = sec + nsec / 1e9
        m = re.search(rb"Call-ID: (pace-\d+)", data)
        got.append([m.group(1).decode() if m else None, t])
    err = agent.communicate()[1]
    json.dump(got, open(out, "w"))
    if agent.returncode != 0:
        sys.exit(f"hepagent exited {agent.returncode}: {err.decode(errors='replace')}")


if sys.argv[1] == "make":
    make(sys.argv[2], [float(x) for x in sys.argv[3:]])
elif sys.argv[1] == "make-n":
    make(sys.argv[2], [0.0] * int(sys.argv[3]))
elif sys.argv[1] == "replay":
    replay(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6:])
else:
    sys.exit(__doc__)
