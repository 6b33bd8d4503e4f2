#!/usr/bin/env python3
"""The QoS part of scripts/bench.sh: passive RTP measurement offline.

Runs tests/qos_replay on a load capture (gen_media.py --bench: CALLS calls,
RTP both ways) in two modes, REPEAT times each, alternating:
  floor  libpcap reads each record, hepagent's decoder decodes it, the RTP
         header is parsed; the QoS table is left out
  qos    the same plus the QoS table (one stream per direction, a final
         report each)
and the qos mode once more on a capture of a tenth of the length, to show
that the peak RSS does not grow with the length. Prints medians: RTP
packets/s and ns/packet of each mode, the table's own ns/packet (qos minus
floor) and what that rate is, the peak RSS of both lengths.

usage: qos.py --tool QOS_REPLAY --capture FULL --small SMALL [--repeat N]
"""
import argparse
import statistics
import subprocess
import sys


def run(tool, capture, mode):
    out = subprocess.run([tool, "-r", capture, "--" + mode], capture_output=True, text=True,
                         check=True).stdout
    return dict(kv.split("=", 1) for kv in out.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--capture", required=True)
    ap.add_argument("--small", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    runs = {"floor": [], "qos": []}
    for _ in range(a.repeat):
        for mode in ("floor", "bench"):
            r = run(a.tool, a.capture, mode)
            runs[r["mode"]].append(r)
    small = run(a.tool, a.small, "bench")
    med = {m: {k: statistics.median(float(r[k]) for r in rs)
               for k in ("seconds", "pps", "ns_per_rtp", "max_rss_kb")} for m, rs in runs.items()}
    full = runs["qos"][0]
    rtp = int(full["rtp"])
    print("   capture: %s RTP packets, %s streams, %s reports (one final per stream)"
          % (full["rtp"], full["streams"], full["reports"]))
    print("   %-6s %12s %12s %12s" % ("mode", "RTP pkt/s", "ns/packet", "max RSS kB"))
    for m in ("floor", "qos"):
        print("   %-6s %12.0f %12.1f %12.0f" % (m, med[m]["pps"], med[m]["ns_per_rtp"],
                                             med[m]["max_rss_kb"]))
    table_ns = med["qos"]["ns_per_rtp"] - med["floor"]["ns_per_rtp"]
    print("   QoS table alone: %.1f ns/packet = %.2f M RTP packets/s (qos - floor, medians of %d)"
          % (table_ns, 1e3 / table_ns if table_ns > 0 else float("inf"), a.repeat))
    print("   ratio qos/floor time: %.2f" % (med["qos"]["seconds"] / med["floor"]["seconds"]))
    print("   peak RSS: %s kB at 1/10 of the length (%s RTP packets), %.0f kB at full length"
          " (ratio %.2f); table memory %s bytes"
          % (small["max_rss_kb"], small["rtp"], med["qos"]["max_rss_kb"],
             med["qos"]["max_rss_kb"] / float(small["max_rss_kb"]), full["memory_bytes"]))
    if int(full["reports"]) != int(full["streams"]) or rtp < 1:
        print("bench qos: a stream without its final report", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
