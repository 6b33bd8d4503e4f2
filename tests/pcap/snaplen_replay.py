#!/usr/bin/env python3
"""Re-reads every capture under tests/pcap cut to snaplen 64, 200 and 600
bytes (caplen shortened, wire length kept, as a capture with a small -s
would have it), through hepagent. Run in the sanitizer build, this checks
that no cut frame makes a decoder read past what was captured.

usage: snaplen_replay.py BUILD_DIR
Fails when hepagent exits non-zero, a sanitizer reports anything, or a SIP
message is sent from frames cut at 64 bytes (no SIP message fits in them).
"""
import glob
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def cut_pcap(src, dst, snaplen):
    data = open(src, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return False  # pcapng: the fuzzer covers its reader
    out = bytearray(data[:16]) + struct.pack(e + "I", snaplen) + data[20:24]
    off = 24
    while off + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack(e + "IIII", data[off:off + 16])
        keep = min(caplen, snaplen)
        out += struct.pack(e + "IIII", sec, usec, keep, wirelen)
        out += data[off + 16:off + 16 + keep]
        off += 16 + caplen
    open(dst, "wb").write(out)
    return True


def main():
    build = sys.argv[1]
    agent = os.path.join(build, "hepagent")
    captures = sorted(glob.glob(os.path.join(HERE, "**", "*.pcap"), recursive=True))
    failures, runs = [], 0
    with tempfile.TemporaryDirectory() as work:
        for cap in captures:
            for snaplen in (64, 200, 600):
                cut = os.path.join(work, "cut.pcap")
                if not cut_pcap(cap, cut, snaplen):
                    continue
                runs += 1
                r = subprocess.run([agent, "-r", cut, "-H", "udp://127.0.0.1:9", "--stats"],
                                   capture_output=True, text=True, timeout=120)
                name = "%s @%d" % (os.path.relpath(cap, HERE), snaplen)
                if r.returncode != 0:
                    failures.append("%s: exit %d: %s" % (name, r.returncode, r.stderr[-800:]))
                    continue
                if "Sanitizer" in r.stderr or "runtime error" in r.stderr:
                    failures.append("%s: sanitizer report:\n%s" % (name, r.stderr[-2000:]))
                    continue
                stats = dict(l.rsplit(" ", 1) for l in r.stderr.splitlines()
                             if l and not l.startswith("hepagent:"))
                if snaplen == 64 and int(stats.get("rules_sent", "0")) != 0:
                    failures.append("%s: %s messages sent from 64-byte frames" %
                                    (name, stats["rules_sent"]))
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("ok: %d truncated replays ran clean" % runs)


if __name__ == "__main__":
    main()
