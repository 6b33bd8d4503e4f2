#!/usr/bin/env python3
"""The TLS part of scripts/bench.sh: the same calls over plain TCP and over
TLS 1.3 (scripts/bench/tlsify.py), each replayed by hepagent -r as fast as it
can on one core (taskset) to a bench_sink on another, the TLS one decrypted
with its key log. Prints SIP messages per second, CPU time, max RSS, and the
ratio of the TLS run's cost to the plain one's (goal: at most 2).

  tls.py --bin BUILD --config CONF --tcp PCAP:META --tls PCAP:META:KEYS [--repeat N]
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Run, Sink, parse_stats)


def one(args, pcap, meta, keys, workdir):
    sink = run.Sink(args, [], "udp", "hep", expect=meta["sip_messages"], outdir=workdir)
    err_path = os.path.join(workdir, "tls-bench.err")
    argv = ["taskset", "-c", args.core, os.path.join(args.bin, "hepagent"), "-c", args.config,
            "-r", pcap, "-H", "udp://127.0.0.1:%d" % sink.port, "--stats"]
    if keys:
        argv += ["--tls-keylog", keys]
    with open(err_path, "wb") as err:
        r = run.Run(argv, stderr=err, timeout=600, workdir=workdir).wait()
    s = sink.finish()
    st = run.parse_stats(err_path)
    return {"wall": r.wall, "cpu": r.cpu, "user": r.user, "sys": r.sys, "rss_kb": r.rss_kb,
            "rc": r.rc, "delivered": s.get("packets", 0), "expected": meta["sip_messages"],
            "decrypted": st.get("tls.records_decrypted", 0),
            "auth_failures": st.get("tls.auth_failures", 0)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--tcp", required=True)
    p.add_argument("--tls", required=True)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--core", default="0")
    p.add_argument("--workdir", default=".")
    args = p.parse_args()
    tcp_pcap, tcp_meta = args.tcp.split(":")
    tls_pcap, tls_meta, keys = args.tls.split(":")
    cases = [("plain TCP", tcp_pcap, json.load(open(tcp_meta)), None),
             ("TLS 1.3", tls_pcap, json.load(open(tls_meta)), keys)]
    results = {name: [] for name, *_ in cases}
    for rep in range(args.repeat):  # interleaved, so a slow phase hits both
        for name, pcap, meta, k in cases:
            run.log("  run %d/%d: hepagent %s" % (rep + 1, args.repeat, name))
            results[name].append(one(args, pcap, meta, k, args.workdir))
    print()
    print("== SIP over TLS decrypted vs the same calls over TCP (hepagent -r on core %s; "
          "median of %d)" % (args.core, args.repeat))
    hdr = "%-10s %9s %9s %9s %9s %8s %s" % ("input", "wall_s", "msg/s", "cpu_s", "msg/cpu_s",
                                           "rss_MB", "delivered/expected")
    print(hdr)
    print("-" * len(hdr))
    med = {}
    for name, pcap, meta, _ in cases:
        rs = results[name]
        m = {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu")}
        m["rss"] = max(r["rss_kb"] for r in rs) / 1024
        m["delivered"] = min(r["delivered"] for r in rs)
        m["expected"] = meta["sip_messages"]
        med[name] = m
        flags = []
        if m["delivered"] != m["expected"]:
            flags.append("LOSS")
        if any(r["auth_failures"] for r in rs):
            flags.append("AUTH FAILURES")
        print("%-10s %9.3f %9s %9.3f %9s %8.1f %d/%d %s" % (
            name, m["wall"], run.fmt_rate(m["expected"] / m["wall"]), m["cpu"],
            run.fmt_rate(m["expected"] / m["cpu"]), m["rss"], m["delivered"], m["expected"],
            " ".join(flags)))
    t, p_ = med["TLS 1.3"], med["plain TCP"]
    ratio = t["cpu"] / p_["cpu"]
    print()
    print("  TLS/TCP cost: cpu %.2f, wall %.2f (goal cpu <= 2: %s); %d records decrypted, "
          "%.0f ns of extra CPU per message" % (
              ratio, t["wall"] / p_["wall"], "PASS" if ratio <= 2 else "MISS",
              results["TLS 1.3"][0]["decrypted"],
              (t["cpu"] - p_["cpu"]) / t["expected"] * 1e9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
