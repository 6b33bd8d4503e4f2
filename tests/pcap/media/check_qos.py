#!/usr/bin/env python3
"""Compares hepagent's passive RTP quality numbers with Wireshark's: for every
capture listed in MANIFEST.tsv (or given), runs qos_replay (no SDP: every UDP
payload that parses as RTP) and `tshark -q --enable-heuristic rtp_udp -z
rtp,streams`, pairs the streams by addresses, ports and SSRC, and checks each
field: packets and lost exactly, max delta, mean and max jitter within 0.1 ms
or 3 %. Every stream either side reports must be on the other side.

usage: check_qos.py BUILD_DIR [CAPTURE...]     exit 0 when all agree
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# start end src sport dst dport ssrc payload... pkts lost (pct%) 6 numbers [X]
LINE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-Fa-f]+)\s+"
                  r"(.*?)\s+(\d+)\s+(-?\d+)\s+\((-?[\d.]+|nan|-?inf)%\)\s+([-\d.]+)\s+([-\d.]+)\s+"
                  r"([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)(\s+X)?\s*$")


def tshark_streams(capture):
    out = subprocess.run(["tshark", "-n", "-r", capture, "-q", "--enable-heuristic", "rtp_udp",
                          "-z", "rtp,streams"], capture_output=True, text=True, check=True).stdout
    streams = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        key = (m[1], int(m[2]), m[3], int(m[4]), int(m[5], 16))
        streams[key] = {"payload": m[6], "packets": int(m[7]), "lost": int(m[8]),
                        "delta_max_ms": float(m[12]), "jitter_mean_ms": float(m[14]),
                        "jitter_max_ms": float(m[15])}
    return streams


def qos_streams(build, capture, flags):
    tool = os.path.join(build, "tests", "qos_replay")
    out = subprocess.run([tool, "-r", capture] + flags, capture_output=True, text=True,
                         check=True).stdout
    streams = {}
    for line in out.splitlines():
        r = json.loads(line)
        if not r["final"]:
            continue
        key = (r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["ssrc"])
        if key in streams:
            raise SystemExit("%s: two final reports for %s" % (capture, key))
        streams[key] = r
    return streams


def close(a, b):
    return abs(a - b) <= 0.1 or abs(a - b) <= 0.03 * max(abs(a), abs(b))


def compare(build, capture, flags):
    errors = []
    ws, ours = tshark_streams(capture), qos_streams(build, capture, flags)
    if not ws:
        errors.append("tshark found no RTP stream")
    for key in sorted(set(ws) | set(ours), key=str):
        name = "%s:%d -> %s:%d ssrc 0x%08X" % key
        if key not in ours:
            errors.append("%s: tshark has it, qos_replay does not" % name)
            continue
        if key not in ws:
            errors.append("%s: qos_replay has it, tshark does not" % name)
            continue
        w, o = ws[key], ours[key]
        for field in ("packets", "lost"):
            if w[field] != o[field]:
                errors.append("%s: %s tshark %d, ours %d" % (name, field, w[field], o[field]))
        for field in ("delta_max_ms", "jitter_mean_ms", "jitter_max_ms"):
            if not close(w[field], o[field]):
                errors.append("%s: %s tshark %.3f, ours %.3f" % (name, field, w[field], o[field]))
    return len(ws), errors


def manifest():
    rows = {}
    with open(os.path.join(HERE, "MANIFEST.tsv")) as f:
        for line in f:
            if line.strip():
                name, _, flags = line.rstrip("\n").partition("\t")
                rows[name] = flags.split()
    return rows


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) > 1 else 2
    build = sys.argv[1]
    rows = manifest()
    names = sys.argv[2:] or sorted(rows)
    failed = 0
    total = 0
    for name in names:
        path = name if os.path.isabs(name) else os.path.join(HERE, name)
        count, errors = compare(build, path, rows.get(os.path.basename(name), []))
        total += count
        if errors:
            failed += 1
            print("FAIL %s\n  %s" % (name, "\n  ".join(errors)))
        else:
            print("ok   %s (%d streams)" % (name, count))
    print("%d passed, %d failed" % (len(names) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
