#!/usr/bin/env python3
"""The live media part of scripts/bench.sh, and the capture filter study.

  media.py --bin BUILD --capture PCAP --meta JSON --tx-ns NS --tx-if IF
           --rx-ns NS --rx-if IF [--rates 200000,...] [--filters cut,none]

tcpreplay (transmit namespace) sends media_capture.py's capture of calls
(SIP plus RTP both ways, interleaved) over a veth pair at each rate in
packets/s; hepagent captures the other end with media.rtcp and media.qos on
and sends to a hep_sink on the receiving namespace's loopback. Per rate and
capture filter: kernel drops (pcap_stats), softnet drops, SIP delivered
(HEP type 1: every message of the capture), final QoS reports (HEP 0x22:
one per stream), bytes the kernel copied (frame_bytes), hepagent's CPU.
Filters (media.rtp_snap): cut = the RTP-cutting kernel filter (64 bytes of
RTP payload, the default), none = whole packets, no kernel filter. Python 3
standard library only; uses run.py's process measurement.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (Run, log, parse_stats, softnet_dropped, stat_sum, stop_children,  # noqa: E402
                 wait_capturing)

FILTERS = {"cut": 64, "none": 0}


def one(args, meta, rate, name, wd):
    rx = ["ip", "netns", "exec", args.rx_ns]
    tx = ["ip", "netns", "exec", args.tx_ns]
    os.makedirs(wd, exist_ok=True)
    port_file, out = os.path.join(wd, "sink.port"), os.path.join(wd, "sink.jsonl")
    sink = Run([os.path.join(args.bin, "tests", "hep_sink"), "-u", "0", "-p", port_file, "-o", out],
               prefix=rx, workdir=wd)
    for _ in range(200):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            break
        time.sleep(0.02)
    port = int(open(port_file).read().split()[0])
    cfg = os.path.join(wd, "hepagent.json")
    with open(cfg, "w") as f:
        json.dump({"capture": [{"interface": args.rx_if, "buffer_mb": args.buffer_mb}],
                   "rules": [{"name": "sip", "ports": [5060]}],
                   "collectors": [{"url": "udp://127.0.0.1:%d" % port}],
                   "media": {"rtcp": True, "qos": True, "rtp_snap": FILTERS[name]}}, f)
    err_path = os.path.join(wd, "hepagent.err")
    agent_err = open(err_path, "wb")
    agent = Run([os.path.join(args.bin, "hepagent"), "-c", cfg, "--stats"], stderr=agent_err,
                timeout=600, prefix=rx, workdir=wd)
    wait_capturing(agent, err_path)
    soft0 = softnet_dropped()
    rp_out = open(os.path.join(wd, "tcpreplay.out"), "wb")
    rp = Run(["tcpreplay", "-i", args.tx_if, "--pps=%d" % rate, "--preload-pcap", args.capture],
             prefix=tx, stdout=rp_out, stderr=subprocess.STDOUT, timeout=600, workdir=wd).wait()
    rp_out.close()
    soft1 = softnet_dropped()
    time.sleep(1.0)  # the ring and the queues empty
    agent.signal(signal.SIGTERM)  # final QoS reports of the streams still open
    agent.wait()
    agent_err.close()
    time.sleep(0.5)
    sink.signal(signal.SIGTERM)
    sink.wait()
    text = open(os.path.join(wd, "tcpreplay.out"), errors="replace").read()
    m = re.search(r"Actual: (\d+) packets .* sent in ([0-9.]+) seconds", text)
    sent, secs = (int(m.group(1)), float(m.group(2))) if m else (0, 0)
    m = re.search(r"Rated: .*?([0-9.]+) pps", text)
    pps = float(m.group(1)) if m else 0
    st = parse_stats(err_path)
    sip = finals = 0
    for line in open(out):
        p = json.loads(line)
        if p.get("ptype") == 1:
            sip += 1
        elif p.get("ptype") == 0x22 and b'"final":true' in bytes.fromhex(p["payload"]):
            finals += 1
    return {"filter": name, "rate": rate, "sent": sent, "secs": secs, "pps": pps,
            "k_recv": stat_sum(st, ".kernel_received"), "k_drop": stat_sum(st, ".kernel_dropped"),
            "softnet": soft1 - soft0, "frames": st.get("frames", 0),
            "frame_bytes": st.get("frame_bytes", 0), "sip": sip, "sip_want": meta["sip_messages"],
            "finals": finals, "streams": meta["streams"],
            "rtp": st.get("media.rtp_packets", 0), "not_rtp": st.get("media.not_rtp", 0),
            "cpu": agent.cpu, "rss_kb": agent.rss_kb,
            "zero_sip_loss": sip == meta["sip_messages"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for opt in ("--bin", "--capture", "--meta", "--tx-ns", "--tx-if", "--rx-ns", "--rx-if"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--rates", default="200000")
    ap.add_argument("--filters", default="cut,none")
    ap.add_argument("--buffer-mb", type=int, default=32)
    ap.add_argument("--workdir", default=".")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    signal.signal(signal.SIGTERM, lambda s, f: (stop_children(), sys.exit(143)))
    meta = json.load(open(args.meta))
    rows = []
    try:
        for rate in [int(x) for x in args.rates.split(",") if x]:
            for name in args.filters.split(","):
                log("  %s, %d packets/s" % (name, rate))
                rows.append(one(args, meta, rate, name,
                                os.path.join(args.workdir, "media-%s-%d" % (name, rate))))
    finally:
        stop_children()
    print()
    print("== Live media: tcpreplay -> veth -> hepagent (media.rtcp, media.qos) -> UDP sink; "
          "%d calls (%d streams), %d SIP messages, %d RTP packets" % (
              meta["calls"], meta["streams"], meta["sip_messages"], meta["rtp_packets"]))
    hdr = "%-5s %8s %9s %9s %8s %8s %8s %10s %11s %9s %6s %6s" % (
        "rtp", "rate/s", "actual/s", "k_recv", "k_drop", "softnet", "B/frame", "SIP",
        "QoS final", "rtp_pkts", "cpu%", "rssMB")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-5s %8d %9.0f %9d %8d %8d %8.0f %10s %11s %9d %6.1f %6.1f" % (
            r["filter"], r["rate"], r["pps"], r["k_recv"], r["k_drop"], r["softnet"],
            r["frame_bytes"] / r["frames"] if r["frames"] else 0,
            "%d/%d" % (r["sip"], r["sip_want"]), "%d/%d" % (r["finals"], r["streams"]), r["rtp"],
            100 * r["cpu"] / r["secs"] if r["secs"] else 0, r["rss_kb"] / 1024))
    print("  (rtp: media.rtp_snap, cut = the RTP-cutting kernel filter, none = whole packets;\n"
          "   k_recv/k_drop: pcap_stats; softnet: /proc/net/softnet_stat drops during the replay;"
          "\n   B/frame: bytes the kernel copied per frame; cpu%: hepagent CPU / replay time)")
    with open(os.path.join(args.workdir, "media.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
