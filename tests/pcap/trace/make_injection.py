#!/usr/bin/env python3
"""Writes injection.pcap: SIP messages over UDP whose headers and body carry
what a terminal would act on: ESC sequences (clear screen, set title,
colors), C1 control bytes raw and as UTF-8, BEL, NUL, bare CR, bidi
overrides, invalid UTF-8 — next to valid UTF-8 that must stay readable.

usage: make_injection.py OUT.pcap   (deterministic)
"""
import struct
import sys


def udp_frame(payload, sport, dport):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    s = sum(struct.unpack(">10H", ip))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    ip = ip[:10] + struct.pack(">H", ~s & 0xffff) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def sip(first, call_id, extra, body=b""):
    return (first + b"\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-inj\r\n"
            b"From: " + extra + b" <sip:mallory@192.0.2.1>;tag=1\r\n"
            b"To: <sip:bob@192.0.2.2>\r\n"
            b"Call-ID: " + call_id + b"\r\n"
            b"CSeq: 1 MESSAGE\r\n"
            b"Content-Type: text/plain;charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


MESSAGES = [
    sip(b"MESSAGE sip:bob@192.0.2.2 SIP/2.0", b"inj-1@192.0.2.1",
        b"\"\x1b[2J\x1b[H\x1b]0;owned\x07\"",
        b"clear\x1b[2Jscreen, \x1b[31mred\x1b[0m, bell\x07, nul\x00, bare\rcr\r\n"),
    sip(b"MESSAGE sip:bob@192.0.2.2 SIP/2.0", b"inj-2\x1b[5m@192.0.2.1",
        b"\"C1 \x9b31m and \xc2\x9b31m\"",
        "caf\u00e9 \u20ac ok, bidi \u202egnp.exe\u202c, ".encode() + b"bad \xff\xfe \xc3(\r\n"),
]


def main():
    out = open(sys.argv[1], "wb")
    out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, m in enumerate(MESSAGES):
        frame = udp_frame(m, 5060, 5060)
        out.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


if __name__ == "__main__":
    main()
