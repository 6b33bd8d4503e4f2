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
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import pcapfile  # noqa: E402


def cut_pcap(src, dst, snaplen):
    pcap = pcapfile.read_pcap_file(src)
    if pcap is None:
        return False  # pcapng: the fuzzer covers its reader
    e = pcap.endian
    out = bytearray(pcap.header[:16]) + struct.pack(e + "I", snaplen) + pcap.header[20:24]
    for r in pcap.records:
        keep = min(r.caplen, snaplen)
        out += struct.pack(e + "IIII", r.sec, r.frac, keep, r.wirelen) + r.frame[:keep]
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
                args = [agent, "-r", cut, "-H", "udp://127.0.0.1:9", "--stats"]
                keys = os.path.splitext(cap)[0] + ".keys"
                if os.path.exists(keys):  # TLS captures: decrypt what is left
                    args += ["--tls-keylog", keys]
                r = subprocess.run(args, capture_output=True, text=True, timeout=120)
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
