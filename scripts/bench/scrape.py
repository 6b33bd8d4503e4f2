#!/usr/bin/env python3
"""scrape.py HOST PORT PID COUNT: what one scrape of hepagent's metrics
endpoint costs. COUNT requests over one keep-alive connection for each of
/metrics, /stats and, as the baseline of the same HTTP path with nothing to
render, a 404 page; per kind: the client's round-trip (median, p99) and
hepagent's CPU time per request (utime+stime of PID from /proc, divided by
COUNT). Prints a table and the ratio to the baseline."""
import http.client
import os
import statistics
import sys
import time

host, port, pid, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tick = os.sysconf("SC_CLK_TCK")


def cpu_s():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime


def run(path):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    times, size = [], 0
    c0 = cpu_s()
    for _ in range(count):
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append(time.perf_counter() - t)
        size = len(body)
        if r.status not in (200, 404):
            sys.exit(f"scrape: {path}: HTTP {r.status}")
        if conn.sock is None:  # the server closed it: open a new one
            conn = http.client.HTTPConnection(host, port, timeout=5)
    c1 = cpu_s()
    conn.close()
    times.sort()
    return {"median": statistics.median(times) * 1e6, "p99": times[int(len(times) * 0.99) - 1] * 1e6,
            "cpu": (c1 - c0) / count * 1e6, "bytes": size}


res = {p: run(p) for p in ("/nothing-here", "/metrics", "/stats")}
base = res["/nothing-here"]
print(f"   {'request':<14} {'bytes':>7} {'round-trip median':>18} {'p99':>8} {'agent CPU/request':>18}")
for p, r in res.items():
    print(f"   {p:<14} {r['bytes']:>7} {r['median']:>15.0f} µs {r['p99']:>5.0f} µs {r['cpu']:>15.0f} µs")
for p in ("/metrics", "/stats"):
    print(f"   {p}: round-trip {res[p]['median'] / base['median']:.2f}x the 404 baseline, "
          f"{res[p]['median'] - base['median']:.0f} µs more to render "
          f"({'under' if res[p]['median'] < 1000 else 'OVER'} 1 ms per scrape)")
