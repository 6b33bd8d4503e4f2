#!/usr/bin/env python3
"""Builds the fuzz seed corpus from the repository's own inputs.

usage: make_seeds.py OUTDIR   writes OUTDIR/<target>/... for each fuzz target:
  decode  one seed per capture: link type index, flags, then its frames
          joined by "FRAME" markers (a whole conversation: fragments,
          segments), cut at 64 KB
  sip     the SIP payloads of the UDP captures
  hep     the HEP test vectors
  hepin   the HEP test vectors and the malformed-HEP corpus (tests/hepin/malformed)
  redact  the SIP seeds, each behind a policy byte (0-7, fuzz_redact.c)
  config  conf/hepagent.json and the example configs
  pcapng  the pcapng captures
  tlsrecord  each TLS capture of tests/pcap/tls with its key log, as the
          target reads them (key log, then the TCP payloads as chunks: the
          key given at the start, in the middle, never)
  keylog  the committed TLS key logs (tests/pcap/tls/*.keys) and a few
          hand-made lines of every kind
  spool   spool segments (magic, length, CRC-32, packet) of the HEP vectors:
          all of them, each alone, and all with the last record cut short
  rtp     the UDP payloads of each media capture as fuzz_rtp.c's records
          (control byte with the flow, time step in ms, length, payload)
  sdp     the SIP payloads that carry a body, and hand-made multipart ones
  rtcp    the RTCP payloads of the media captures (version 2, type 192-223),
          and a hand-made compound of every packet type
  media   each media capture as fuzz_media.c's records (SIP messages, UDP
          packets with their addresses, clock steps), cut at 60 KB
Deterministic: the same repository gives the same seeds.
"""
import glob
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import pcapfile  # noqa: E402
LINKTYPES = [1, 0, 12, 101, 105, 108, 113, 127, 228, 229, 239, 276]  # as fuzz_decode.c


def read_pcap(path):
    """(linktype, [frames]) of a classic pcap, or None."""
    pcap = pcapfile.read_pcap_file(path)
    if pcap is None:
        return None
    return pcap.linktype & 0xffff, [r.frame for r in pcap.records]


def write(outdir, target, name, blob):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def spool_record(pkt):
    """One spool record, as agent/spool.c writes it."""
    return b"HSP1" + struct.pack(">II", len(pkt), zlib.crc32(pkt) & 0xffffffff) + pkt


def udp_payload(frame):
    """(source port, payload) of an Ethernet + IPv4/IPv6 + UDP frame, or None."""
    if frame[12:14] == b"\x08\x00" and len(frame) > 42 and frame[23] == 17:
        at = 14 + (frame[14] & 15) * 4
    elif frame[12:14] == b"\x86\xdd" and len(frame) > 62 and frame[20] == 17:
        at = 54
    else:
        return None
    return struct.unpack(">H", frame[at:at + 2])[0], frame[at + 8:]


def udp_datagram(frame):
    """(version, src, dst, sport, dport, payload) of Ethernet + IPv4/IPv6 + UDP, or None."""
    if frame[12:14] == b"\x08\x00" and len(frame) > 42 and frame[23] == 17:
        at, v, src, dst = 14 + (frame[14] & 15) * 4, 4, frame[26:30], frame[30:34]
    elif frame[12:14] == b"\x86\xdd" and len(frame) > 62 and frame[20] == 17:
        at, v, src, dst = 54, 6, frame[22:38], frame[38:54]
    else:
        return None
    sport, dport = struct.unpack(">HH", frame[at:at + 4])
    return v, src, dst, sport, dport, frame[at + 8:]


def media_records(path):
    """fuzz_media.c's records: kind, 16-bit length, then the SIP message (0),
    the UDP packet (1: version, addresses, ports, payload) or a clock step (2)."""
    out, last = b"", None
    for r in pcapfile.read_pcap_file(path).records:
        d = udp_datagram(r.frame)
        if not d:
            continue
        t = r.sec * 10 + r.frac // 100000
        if last is not None and t > last:
            out += bytes([2, 0, 1, min(255, t - last)])
        last = t
        v, src, dst, sport, dport, payload = d
        if payload[:1].isalpha():
            rec = bytes([0]) + struct.pack(">H", len(payload)) + payload
        else:
            body = bytes([v]) + src + dst + struct.pack(">HH", sport, dport) + payload
            rec = bytes([1]) + struct.pack(">H", len(body)) + body
        if len(out) + len(rec) > 60000:
            break
        out += rec
    return out


def rtp_records(path):
    pcap = pcapfile.read_pcap_file(path)
    out, last = b"", None
    for r in pcap.records:
        got = udp_payload(r.frame)
        if not got or len(got[1]) > 255:
            continue
        t = r.sec * 1000 + r.frac // 1000
        step = 0 if last is None else min(249, max(0, t - last))
        last = t
        out += bytes([got[0] & 7, step, len(got[1])]) + got[1]
        if len(out) > 60000:
            break
    return out


SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" \
      b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4005\r\n" \
      b"m=video 4002 RTP/AVPF 96\r\nc=IN IP6 2001:db8::1\r\na=rtpmap:96 VP8/90000\r\n" \
      b"a=rtcp-mux\r\na=sendonly\r\n"
MULTIPART = [
    b"INVITE sip:b@x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n"
    b"Content-Type: multipart/mixed;boundary=\"b1\"\r\n\r\n--b1\r\n"
    b"Content-Type: application/isup\r\n\r\n\x01\x02\r\n--b1\r\n"
    b"Content-Type: application/sdp\r\n\r\n" + SDP + b"\r\n--b1--\r\n",
    b"SIP/2.0 200 OK\r\ni: 1\r\nCSeq: 1 INVITE\r\nc: application/sdp\r\n\r\n" + SDP,
]


def rtcp_packet(pt, count, body):
    """One RTCP packet: header with the length in words minus one."""
    return struct.pack(">BBH", 0x80 | count, pt, len(body) // 4) + body


def rtcp_compound():
    """SR with a block, RR, SDES, BYE, APP, PSFB and XR with VoIP metrics."""
    block = struct.pack(">IIIIII", 2, 0x01000003, 1000, 12, 0, 0)
    sr = rtcp_packet(200, 1, struct.pack(">IIIIII", 1, 3909000000, 0, 160, 5, 800) + block)
    rr = rtcp_packet(201, 1, struct.pack(">I", 1) + block)
    sdes = rtcp_packet(202, 1, struct.pack(">I", 1) + b"\x01\x03abc\x00")
    bye = rtcp_packet(203, 1, struct.pack(">I", 1))
    app = rtcp_packet(204, 0, struct.pack(">I", 1) + b"NAME")
    fb = rtcp_packet(206, 1, struct.pack(">II", 1, 2))
    voip = struct.pack(">BBHI", 7, 0, 8, 2) + bytes(range(1, 29))
    xr = rtcp_packet(207, 0, struct.pack(">I", 1) + voip)
    return sr + rr + sdes + bye + app + fb + xr


def tcp_payloads(path):
    """(from_server, payload) of each TCP segment with data, Ethernet or
    Linux cooked captures of one connection; the server sent the SYN-ACK."""
    pcap = pcapfile.read_pcap_file(path)
    if pcap is None:
        return []
    out, server_port = [], None
    for r in pcap.records:
        fr = r.frame
        off = {1: 14, 113: 16, 276: 20}.get(pcap.linktype & 0xffff)
        if off is None or len(fr) < off + 40 or fr[off] >> 4 != 4:
            continue
        ihl = (fr[off] & 15) * 4
        if fr[off + 9] != 6:
            continue
        tcp = fr[off + ihl:]
        sport, dport = struct.unpack(">HH", tcp[:4])
        flags = tcp[13]
        if flags & 0x12 == 0x12:
            server_port = sport
        payload = tcp[(tcp[12] >> 4) * 4:]
        total = struct.unpack(">H", fr[off + 2:off + 4])[0]
        payload = payload[:max(0, total - ihl - (tcp[12] >> 4) * 4)]
        if payload:
            out.append((sport == server_port, payload))
    return out


def tls_seeds(pcap_path, keys):
    segs = tcp_payloads(pcap_path)
    if not segs:
        return []
    def blob(key_at):
        b = struct.pack(">H", len(keys)) + keys
        for i, (srv, p) in enumerate(segs):
            for j in range(0, len(p), 65535):
                piece = p[j:j + 65535]
                flags = (1 if srv else 0) | (2 if i == key_at else 0)
                b += bytes([flags]) + struct.pack(">H", len(piece)) + piece
        return b
    return [blob(0), blob(len(segs) // 2), blob(-1)]


def main():
    out = sys.argv[1]
    captures = sorted(glob.glob(os.path.join(REPO, "tests/pcap/**/*.pcap*"), recursive=True))
    for path in captures:
        name = os.path.relpath(path, os.path.join(REPO, "tests/pcap")).replace("/", "_")
        if path.endswith(".pcapng"):
            write(out, "pcapng", name, open(path, "rb").read())
            continue
        parsed = read_pcap(path)
        if not parsed:
            continue
        linktype, frames = parsed
        if linktype not in LINKTYPES:
            continue
        blob = bytes([LINKTYPES.index(linktype), 0]) + b"FRAME".join(frames)
        write(out, "decode", name, blob[:65536])
        if linktype == 1:
            for i, fr in enumerate(frames[:20]):
                # Ethernet + IPv4 (no options) + UDP: the SIP payload
                if len(fr) > 42 and fr[12:14] == b"\x08\x00" and fr[23] == 17:
                    payload = fr[14 + (fr[14] & 15) * 4 + 8:]
                    if payload[:3] in (b"SIP",) or b" SIP/2.0" in payload[:200]:
                        write(out, "sip", "%s_%d" % (name, i), payload)
                        write(out, "redact", "%s_%d" % (name, i), bytes([i % 8]) + payload)
                        if b"\r\n\r\nv=0" in payload:
                            write(out, "sdp", "%s_%d" % (name, i), payload)
    for path in sorted(glob.glob(os.path.join(REPO, "tests/pcap/media/*.pcap"))):
        write(out, "rtp", os.path.basename(path), rtp_records(path))
        frames = [r.frame for r in pcapfile.read_pcap_file(path).records]
        rtcp = [got[1] for got in map(udp_payload, frames)
                if got and len(got[1]) >= 4 and got[1][0] >> 6 == 2 and 192 <= got[1][1] <= 223]
        for i, payload in enumerate(rtcp[:20]):
            write(out, "rtcp", "%s_%d" % (os.path.basename(path), i), payload)
        write(out, "media", os.path.basename(path), media_records(path))
    for i, blob in enumerate(MULTIPART):
        write(out, "sdp", "multipart_%d" % i, blob)
    write(out, "rtcp", "every_type", rtcp_compound())
    records = []
    for v in sorted(glob.glob(os.path.join(REPO, "tests/unit/vectors/*.bin"))):
        write(out, "hep", os.path.basename(v), open(v, "rb").read())
        write(out, "hepin", os.path.basename(v), open(v, "rb").read())
        pkt = open(v, "rb").read()
        if pkt[:4] == b"HEP3" and struct.unpack(">H", pkt[4:6])[0] == len(pkt):
            records.append(spool_record(pkt))
            write(out, "spool", os.path.basename(v), records[-1])
    for m in sorted(glob.glob(os.path.join(REPO, "tests/hepin/malformed/*.bin"))):
        write(out, "hepin", os.path.basename(m), open(m, "rb").read())
    write(out, "spool", "all", b"".join(records))
    write(out, "spool", "all_cut", b"".join(records)[:-7])
    hand = (b"# comment\nCLIENT_RANDOM " + b"01" * 32 + b" " + b"ab" * 48 + b"\r\n"
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + b"02" * 32 + b" " + b"cd" * 32 + b"\n"
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET " + b"02" * 32 + b" " + b"ef" * 48 + b"\n"
            b"EXPORTER_SECRET " + b"02" * 32 + b" " + b"11" * 32 + b"\n"
            b"CLIENT_TRAFFIC_SECRET_0 " + b"02" * 32 + b" " + b"12" * 32)
    write(out, "keylog", "hand", hand)
    for kl in sorted(glob.glob(os.path.join(REPO, "tests/pcap/tls/*.keys"))):
        write(out, "keylog", os.path.basename(kl), open(kl, "rb").read())
        seeds = tls_seeds(kl[:-len(".keys")] + ".pcap", open(kl, "rb").read())
        for i, blob in enumerate(seeds):
            write(out, "tlsrecord", "%s_%d" % (os.path.basename(kl)[:-5], i), blob)
    for c in [os.path.join(REPO, "conf/hepagent.json")] + sorted(
            glob.glob(os.path.join(REPO, "conf/examples/*.json"))):
        write(out, "config", os.path.basename(c), open(c, "rb").read())


if __name__ == "__main__":
    main()
