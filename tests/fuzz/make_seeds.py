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
  spool   spool segments (magic, length, CRC-32, packet) of the HEP vectors:
          all of them, each alone, and all with the last record cut short
  rtp     the UDP payloads of each media capture as fuzz_rtp.c's records
          (control byte with the flow, time step in ms, length, payload)
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
    for path in sorted(glob.glob(os.path.join(REPO, "tests/pcap/media/*.pcap"))):
        write(out, "rtp", os.path.basename(path), rtp_records(path))
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
    for c in [os.path.join(REPO, "conf/hepagent.json")] + sorted(
            glob.glob(os.path.join(REPO, "conf/examples/*.json"))):
        write(out, "config", os.path.basename(c), open(c, "rb").read())


if __name__ == "__main__":
    main()
