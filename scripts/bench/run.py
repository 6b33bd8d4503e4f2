#!/usr/bin/env python3
"""Runs and measures the programs of scripts/bench.sh and prints its tables.
Each program is a child of this script: wall time from spawn to exit, CPU
time (user + sys) and max RSS come from os.wait4's rusage for that process
alone. Python 3 standard library only.

  run.py offline --bin BUILD --capture NAME=PCAP:META ... [--repeat N] [--sngrep]
  run.py live --bin BUILD --capture PCAP --tx-ns NS --tx-if IF --rx-ns NS --rx-if IF
              [--rates 10000,50000,...] [--duration S]

offline: every case replays a capture file as fast as it can to a bench_sink
on 127.0.0.1 (run this inside a private network namespace); the floor
(bench_floor), hepagent -r and sngrep -I ... -H.
live: tcpreplay in the transmit namespace sends the capture over a veth pair
at fixed rates; hepagent captures the receiving end and sends HEP to a sink
on the receiving namespace's loopback, which also measures latency.
"""
import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

CHILDREN = []  # Run objects, stopped on failure


def log(msg):
    print(msg, flush=True)


def fail(msg):
    sys.stderr.write("bench: " + msg + "\n")
    sys.exit(1)


def stop_children():
    """Kills what is still running: each program, then GNU time above it."""
    for r in CHILDREN:
        if r.proc.returncode is None:
            r.signal(signal.SIGKILL)
            try:
                r.proc.kill()
            except OSError:
                pass
    for r in CHILDREN:
        if r.proc.returncode is None:
            try:
                r.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def on_signal(sig, frame):
    stop_children()
    sys.exit(128 + sig)


TIME = "/usr/bin/time"


class Run:
    """A measured child process. The program runs under GNU time, which
    forks it and reads its rusage with wait4: ru_maxrss of a process started
    by this Python script directly would include the ~14 MB the interpreter
    had when it forked (the kernel carries a process's peak RSS across exec),
    while GNU time's own footprint is about 1 MB. os.wait4 of the time
    process gives the exit status, and CPU time as a cross-check."""

    def __init__(self, argv, stdout=None, stderr=None, timeout=None, prefix=(), workdir="."):
        self.usage_file = os.path.join(workdir, "rusage.%d.txt" % len(CHILDREN))
        self.argv = list(prefix) + [TIME, "-f", "rusage %e %U %S %M", "-o", self.usage_file] + argv
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=stdout or subprocess.DEVNULL,
                                     stderr=stderr or subprocess.DEVNULL)
        CHILDREN.append(self)
        self.timed_out = False
        self.timer = None
        if timeout:
            self.timer = threading.Timer(timeout, self._expire)
            self.timer.daemon = True
            self.timer.start()

    def _program_pids(self):
        """The program: GNU time's child (ip netns exec execs time itself)."""
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def _expire(self):
        if self.proc.returncode is None:
            self.timed_out = True
            for pid in self._program_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def signal(self, sig):
        """Signals the program (not GNU time)."""
        if self.proc.returncode is None:
            for pid in self._program_pids():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass

    def wait(self):
        """Waits for the exit; sets wall, cpu, user, sys, rss_kb, rc."""
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.end = time.monotonic()
        if self.timer:
            self.timer.cancel()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.rc = self.proc.returncode
        self.wall = self.end - self.start
        # what wait4 says about GNU time and its child, in case its report is missing
        self.user, self.sys, self.rss_kb = ru.ru_utime, ru.ru_stime, ru.ru_maxrss
        try:
            with open(self.usage_file) as f:
                for line in f:
                    if line.startswith("rusage "):
                        _, _, user, sys_, rss = line.split()
                        self.user, self.sys, self.rss_kb = float(user), float(sys_), int(rss)
                    elif line.startswith("Command exited with non-zero status"):
                        pass
        except OSError:
            pass
        self.cpu = self.user + self.sys
        return self


def parse_kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def parse_stats(path):
    """hepagent --stats: one 'name value' line per counter."""
    stats = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^(\S+) (-?[0-9]+)$", line.strip())
            if m:
                stats[m.group(1)] = int(m.group(2))
    return stats


def stat_sum(stats, suffix):
    return sum(v for k, v in stats.items() if k.endswith(suffix))


class Sink:
    def __init__(self, args, argv_prefix, transport, mode, expect=None, latency=False,
                 callids=False, idle_ms=3000, total_ms=600000, outdir="."):
        self.prefix = argv_prefix
        argv = [os.path.join(args.bin, "tests", "bench_sink"),
                              "-u" if transport == "udp" else "-t", "0", "-m", mode,
                              "-T", str(total_ms)]
        if idle_ms:
            argv += ["-i", str(idle_ms)]
        if expect:
            argv += ["-n", str(expect)]
        if latency:
            argv += ["-L"]
        if callids:
            argv += ["-C"]
        self.err = open(os.path.join(outdir, "sink.err"), "ab")
        self.run = Run(argv, stdout=subprocess.PIPE, stderr=self.err, prefix=argv_prefix,
                       workdir=outdir)
        line = self.run.proc.stdout.readline().decode()
        m = re.match(r"listening udp=(\d+) tcp=(\d+)", line)
        if not m:
            self.run.signal(signal.SIGKILL)
            fail("bench_sink did not start: %r" % line)
        self.port = int(m.group(1) if transport == "udp" else m.group(2))

    def finish(self, wait_s=30):
        """The summary; SIGTERM if the sink is still there after wait_s."""
        deadline = time.monotonic() + wait_s
        while self.run.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        # poll() reaped it if it exited; otherwise stop it and reap
        if self.run.proc.returncode is None:
            self.run.signal(signal.SIGTERM)
            self.run.proc.wait()
        out = self.run.proc.stdout.read().decode()
        self.err.close()
        lines = [l for l in out.splitlines() if l.startswith("bench_sink ")]
        if not lines:
            fail("bench_sink printed no summary")
        return {k: (float(v) if "." in v else int(v)) for k, v in parse_kv(lines[-1]).items()
                if re.match(r"^[0-9.]+$", v)}


# ---------------------------------------------------------------- offline

def offline_case(args, tool, cap, collector, workdir):
    """One run: returns a dict of measurements."""
    meta = cap["meta"]
    hep = tool != "floor"
    expect = meta["sip_messages"] if hep else meta["records"]
    sink = Sink(args, [], collector, "hep" if hep else "raw", expect=expect,
                callids=(tool == "hepagent"), outdir=workdir)
    out = open(os.path.join(workdir, "%s.out" % tool), "wb")
    err_path = os.path.join(workdir, "%s.err" % tool)
    err = open(err_path, "wb")
    if tool == "floor":
        argv = [os.path.join(args.bin, "tests", "bench_floor"), "-r", cap["pcap"], "-p",
                str(sink.port)]
    elif tool == "hepagent":
        argv = [os.path.join(args.bin, "hepagent"), "-c", args.config, "-r", cap["pcap"], "-H",
                "%s://127.0.0.1:%d" % (collector, sink.port), "--stats"]
    else:
        argv = ["sngrep", "-F", "-N", "-q", "-l", str(meta["calls"] + 1000), "-I", cap["pcap"],
                "-H", "udp:127.0.0.1:%d" % sink.port]
    r = Run(argv, stdout=out, stderr=err, timeout=args.case_timeout, workdir=workdir).wait()
    out.close()
    err.close()
    s = sink.finish()
    res = {"tool": tool, "capture": cap["name"], "collector": collector, "wall": r.wall,
           "user": r.user, "sys": r.sys, "cpu": r.cpu, "rss_kb": r.rss_kb, "rc": r.rc,
           "timed_out": r.timed_out, "expected": expect, "delivered": s.get("packets", 0),
           "invalid": s.get("invalid", 0) + s.get("stream_errors", 0),
           "records": meta["records"], "callids": s.get("callids")}
    if tool == "hepagent":
        st = parse_stats(err_path)
        res["agent_dropped"] = (stat_sum(st, ".dropped_queue_full") +
                                stat_sum(st, ".dropped_shutdown") + stat_sum(st, ".send_errors"))
        res["hep_packets"] = st.get("hep_packets")
    return res


def hep_stream(args, cap, workdir):
    """The HEP packets hepagent makes of a capture, back to back (what a HEP
    TCP stream carries): the relay benchmark's input, made once per run."""
    out = os.path.join(workdir, "relay-input.hep")
    if os.path.exists(out):
        return out
    cfg = os.path.join(workdir, "relay-make.json")
    with open(cfg, "w") as f:
        json.dump({"rules": [{"name": "all"}], "collectors": []}, f)
    hp = os.path.join(workdir, "relay-input.pcap")
    Run([os.path.join(args.bin, "hepagent"), "-c", cfg, "-r", cap["pcap"], "--hep-pcap", hp],
        workdir=workdir).wait()
    with open(hp, "rb") as f:
        data = f.read()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    parts, off = [], 24
    while off + 16 <= len(data):
        caplen = int.from_bytes(data[off + 8:off + 12], "little" if endian == "<" else "big")
        frame = data[off + 16:off + 16 + caplen]
        parts.append(frame[14 + (frame[14] & 15) * 4 + 8:])  # Ethernet, IPv4, UDP
        off += 16 + caplen
    with open(out, "wb") as f:
        f.write(b"".join(parts))
    return out


def free_port(kind):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def relay_case(args, cap, transport, workdir):
    """hep_feed sends the capture's HEP packets into hepagent --listen (a
    relay) over UDP or TCP; the relay sends them to a bench_sink over UDP.
    The relay's CPU time per packet is what compares with the capture's."""
    stream = hep_stream(args, cap, workdir)
    expect = cap["meta"]["sip_messages"]
    sink = Sink(args, [], "udp", "hep", expect=expect, callids=True, outdir=workdir)
    port = free_port(transport)
    cfg = os.path.join(workdir, "relay-%s.json" % transport)
    with open(cfg, "w") as f:
        json.dump({"capture": [],
                   "inputs": [{"url": "%s://127.0.0.1:%d" % (transport, port),
                               "recv_buffer_kb": 262144}],
                   "rules": [{"name": "all"}],
                   "collectors": [{"url": "udp://127.0.0.1:%d" % sink.port}]}, f)
    err_path = os.path.join(workdir, "relay-%s.err" % transport)
    err = open(err_path, "wb")
    relay = Run([os.path.join(args.bin, "hepagent"), "-c", cfg, "--stats"], stderr=err,
                timeout=args.case_timeout, workdir=workdir)
    time.sleep(0.3)
    feed = [os.path.join(args.bin, "tests", "hep_feed"), "-f", stream, "-p", str(port)]
    if transport == "tcp":
        feed.append("-t")
    elif args.relay_pps:
        feed += ["-R", str(args.relay_pps)]
    fout = open(os.path.join(workdir, "feed.out"), "wb")
    fr = Run(feed, stdout=fout, workdir=workdir, timeout=args.case_timeout)
    s = sink.finish(wait_s=args.case_timeout)
    relay.signal(signal.SIGTERM)
    r = relay.wait()
    fr.signal(signal.SIGTERM)
    fr.wait()
    fout.close()
    err.close()
    st = parse_stats(err_path)
    span = s.get("first_to_last_s") or r.wall
    return {"tool": "relay", "capture": cap["name"], "collector": transport, "wall": span,
            "user": r.user, "sys": r.sys, "cpu": r.cpu, "rss_kb": r.rss_kb, "rc": r.rc,
            "timed_out": r.timed_out, "expected": expect, "delivered": s.get("packets", 0),
            "invalid": s.get("invalid", 0) + s.get("stream_errors", 0),
            "records": expect, "callids": s.get("callids"),
            "agent_dropped": stat_sum(st, ".kernel_dropped") + stat_sum(st, ".malformed") +
            stat_sum(st, ".dropped_queue_full")}


def fmt_rate(x):
    return "%.0f" % x if x < 1e4 else ("%.1fk" % (x / 1e3) if x < 1e6 else "%.2fM" % (x / 1e6))


def offline(args):
    caps = []
    for spec in args.capture:
        name, rest = spec.split("=", 1)
        pcap, meta = rest.split(":", 1)
        with open(meta) as f:
            caps.append({"name": name, "pcap": pcap, "meta": json.load(f)})
    workdir = args.workdir
    cases = []  # (tool, capture, collector, repeats)
    for cap in caps:
        if cap["name"] == "small":  # RSS with a capture of another size
            cases.append(("hepagent", cap, "udp", 1))
            continue
        cases.append(("floor", cap, "udp", args.repeat))
        cases.append(("hepagent", cap, "udp", args.repeat))
        cases.append(("hepagent", cap, "tcp", args.repeat))
        if cap["name"] == "udp" and args.relay:
            cases.append(("relay", cap, "udp", args.repeat))
            cases.append(("relay", cap, "tcp", args.repeat))
        if args.sngrep:
            cases.append(("sngrep", cap, "udp", 1))
    results = {}
    # interleave the repeats, so a slow phase of the machine hits every case
    max_rep = max(c[3] for c in cases)
    for rep in range(max_rep):
        for tool, cap, coll, n in cases:
            if rep >= n:
                continue
            key = (tool, cap["name"], coll)
            log("  run %d/%d: %-8s %s -> %s" % (rep + 1, n, tool, cap["name"], coll))
            if tool == "relay":
                results.setdefault(key, []).append(relay_case(args, cap, coll, workdir))
            else:
                results.setdefault(key, []).append(offline_case(args, tool, cap, coll, workdir))

    def med(key):
        runs = results[key]
        walls = [r["wall"] for r in runs]
        best = dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])  # the median run
        best["wall_med"] = statistics.median(walls)
        best["wall_min"] = min(walls)
        best["wall_max"] = max(walls)
        best["cpu_med"] = statistics.median(r["cpu"] for r in runs)
        best["rss_max_kb"] = max(r["rss_kb"] for r in runs)
        best["delivered_min"] = min(r["delivered"] for r in runs)
        best["invalid_max"] = max(r["invalid"] for r in runs)
        best["n"] = len(runs)
        return best

    rows = [med(k) for k in results]
    print()
    print("== Offline replay, as fast as possible (wall: median of n runs, min-max; cpu: median; "
          "rss: max)")
    for cap in caps:
        m = cap["meta"]
        print("   %-6s %s: %d records, %d SIP messages, %d calls (%d distinct Call-IDs), %.1f MB"
              % (cap["name"], os.path.basename(cap["pcap"]), m["records"], m["sip_messages"],
                 m["calls"], m["calls"], os.path.getsize(cap["pcap"]) / 1e6))
    hdr = "%-9s %-6s %-4s %3s %8s %15s %9s %9s %9s %18s %8s %s" % (
        "program", "input", "out", "n", "wall_s", "min-max", "rec/s", "msg/s", "cpu_s",
        "(user+sys)", "rss_MB", "delivered/expected")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        msgs = r["expected"] if r["tool"] != "floor" else r["records"]
        flags = []
        if r["delivered_min"] != r["expected"]:
            flags.append("LOSS")
        if r["invalid_max"]:
            flags.append("INVALID %d" % r["invalid_max"])
        if r["rc"] not in (0,):
            flags.append("rc=%d" % r["rc"])
        if r["timed_out"]:
            flags.append("TIMEOUT")
        if r["tool"] in ("hepagent", "relay") and r.get("agent_dropped"):
            flags.append("agent_dropped=%d" % r["agent_dropped"])
        if r["tool"] == "hepagent" and r.get("callids") is not None:
            if r["callids"] != cap_meta(caps, r["capture"])["calls"]:
                flags.append("callids=%d" % r["callids"])
        print("%-9s %-6s %-4s %3d %8.3f %15s %9s %9s %9.3f %18s %8.1f %d/%d %s" % (
            r["tool"], r["capture"], r["collector"], r["n"], r["wall_med"],
            "%.3f-%.3f" % (r["wall_min"], r["wall_max"]), fmt_rate(r["records"] / r["wall_med"]),
            fmt_rate(msgs / r["wall_med"]), r["cpu_med"], "(%.2f+%.2f)" % (r["user"], r["sys"]),
            r["rss_max_kb"] / 1024, r["delivered_min"], r["expected"], " ".join(flags)))

    byk = {(r["tool"], r["capture"], r["collector"]): r for r in rows}
    print()
    print("== Ratios (same run; medians)")
    verdicts = []
    for cap in caps:
        n = cap["name"]
        if n == "small":
            continue
        fl = byk.get(("floor", n, "udp"))
        for coll in ("udp", "tcp"):
            ha = byk.get(("hepagent", n, coll))
            if fl and ha:
                ratio = ha["wall_med"] / fl["wall_med"]
                ok = ratio <= 1.2
                print("  hepagent/floor  %-6s -> %s collector: wall %.2f  cpu %.2f   "
                      "(target wall <= 1.2: %s)" % (n, coll.upper(), ratio,
                                                     ha["cpu_med"] / fl["cpu_med"],
                                                     "PASS" if ok else "MISS"))
                verdicts.append(ok)
        ha = byk.get(("hepagent", n, "udp"))
        sg = byk.get(("sngrep", n, "udp"))
        if ha and sg:
            print("  sngrep/hepagent %-6s -> UDP collector: wall %.2f  cpu %.2f  rss %.1f"
                  % (n, sg["wall_med"] / ha["wall_med"], sg["cpu_med"] / ha["cpu_med"],
                     sg["rss_max_kb"] / max(1, ha["rss_max_kb"])))
    for coll in ("udp", "tcp"):
        rl = byk.get(("relay", "udp", coll))
        ha = byk.get(("hepagent", "udp", "udp"))
        if rl and ha:
            per_relay = rl["cpu_med"] / rl["expected"] * 1e6
            per_capture = ha["cpu_med"] / ha["expected"] * 1e6
            ok = per_relay <= per_capture
            verdicts.append(ok)
            print("  relay (HEP in over %s) / capture: cpu per packet %.2f / %.2f us = %.2f   "
                  "rss %.1f / %.1f MB (target cpu <= 1: %s)" %
                  (coll.upper(), per_relay, per_capture, per_relay / per_capture,
                   rl["rss_max_kb"] / 1024, ha["rss_max_kb"] / 1024, "PASS" if ok else "MISS"))
    ha_rows = [r for r in rows if r["tool"] == "hepagent"]
    if ha_rows:
        worst = max(r["rss_max_kb"] for r in ha_rows)
        ok = worst <= 32 * 1024
        verdicts.append(ok)
        sizes = ", ".join("%s %.1f MB" % (r["capture"] + "/" + r["collector"], r["rss_max_kb"] / 1024)
                          for r in ha_rows)
        print("  hepagent max RSS %.1f MB (target <= 32 MB: %s)  [%s]"
              % (worst / 1024, "PASS" if ok else "MISS", sizes))
        ids = ", ".join("%s/%s %s/%d" % (r["capture"], r["collector"], r.get("callids"),
                                         cap_meta(caps, r["capture"])["calls"]) for r in ha_rows)
        print("  distinct Call-IDs at the sink (hepagent): %s" % ids)
        lost = [r for r in ha_rows if r["delivered_min"] != r["expected"] or r["invalid_max"]]
        verdicts.append(not lost)
        print("  hepagent delivered every packet in every run: %s"
              % ("PASS" if not lost else "MISS (%s)" % ", ".join(
                  "%s/%s %d/%d" % (r["capture"], r["collector"], r["delivered_min"], r["expected"])
                  for r in lost)))
    with open(os.path.join(workdir, "offline.json"), "w") as f:
        json.dump({"%s/%s/%s" % k: v for k, v in results.items()}, f, indent=1, default=str)
    return 0


def cap_meta(caps, name):
    for c in caps:
        if c["name"] == name:
            return c["meta"]
    return {}


# ---------------------------------------------------------------- live

def softnet_dropped():
    total = 0
    with open("/proc/net/softnet_stat") as f:
        for line in f:
            cols = line.split()
            if len(cols) > 1:
                total += int(cols[1], 16)
    return total


def wait_capturing(agent, err_path):
    """Until hepagent logs that it captures (10 s), and a little more."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(err_path, errors="replace") as f:
            if "capturing on" in f.read():
                break
        if agent.proc.poll() is not None:
            fail("hepagent stopped at start: see %s" % err_path)
        time.sleep(0.05)
    else:
        fail("hepagent did not start capturing: see %s" % err_path)
    time.sleep(0.3)


def live(args):
    rates = [int(x) for x in args.rates.split(",") if x]
    with open(args.meta) as f:
        meta = json.load(f)
    records = meta["records"]
    rx = ["ip", "netns", "exec", args.rx_ns]
    tx = ["ip", "netns", "exec", args.tx_ns]
    rows = []
    for rate in rates:
        count = int(rate * args.duration)
        loops = max(1, math.ceil(count / records))
        wd = os.path.join(args.workdir, "live-%d" % rate)
        os.makedirs(wd, exist_ok=True)
        log("  rate %d msg/s for %.0f s (%d messages)" % (rate, args.duration, count))
        sink = Sink(args, rx, "udp", "hep", latency=True, idle_ms=0,
                    total_ms=int((args.duration + 60) * 1000), outdir=wd)
        err_path = os.path.join(wd, "hepagent.err")
        agent_err = open(err_path, "wb")
        argv = [os.path.join(args.bin, "hepagent"), "-c", args.config, "-i", args.rx_if, "-H",
                "udp://127.0.0.1:%d" % sink.port, "--stats"]
        agent = Run(argv, stderr=agent_err, timeout=args.duration + 120, prefix=rx, workdir=wd)
        wait_capturing(agent, err_path)
        soft0 = softnet_dropped()
        rp_out = open(os.path.join(wd, "tcpreplay.out"), "wb")
        rp = Run(["tcpreplay", "-i", args.tx_if, "--pps=%d" % rate, "--limit=%d" % count,
                  "--loop=%d" % loops, "--preload-pcap", args.capture], prefix=tx,
                 stdout=rp_out, stderr=subprocess.STDOUT, timeout=args.duration * 4 + 60,
                 workdir=wd).wait()
        rp_out.close()
        soft1 = softnet_dropped()
        time.sleep(0.5)  # what is in the capture ring and the queues goes out
        agent.signal(signal.SIGTERM)
        agent.wait()
        agent_err.close()
        s = sink.finish(wait_s=1)
        with open(os.path.join(wd, "tcpreplay.out"), errors="replace") as f:
            rp_text = f.read()
        m = re.search(r"Actual: (\d+) packets .* sent in ([0-9.]+) seconds", rp_text)
        sent = int(m.group(1)) if m else 0
        secs = float(m.group(2)) if m else 0
        m = re.search(r"Rated: .*?([0-9.]+) pps", rp_text)
        pps = float(m.group(1)) if m else 0
        m = re.search(r"Failed packets:\s+(\d+)", rp_text)
        failed = int(m.group(1)) if m else 0
        st = parse_stats(err_path)
        row = {
            "rate": rate, "sent": sent, "send_s": secs, "actual_pps": pps, "tx_failed": failed,
            "kernel_received": stat_sum(st, ".kernel_received"),
            "kernel_dropped": stat_sum(st, ".kernel_dropped"),
            "if_dropped": stat_sum(st, ".interface_dropped"),
            "frames": st.get("frames", 0), "hep_packets": st.get("hep_packets", 0),
            "agent_dropped": (stat_sum(st, ".dropped_queue_full") + stat_sum(st, ".dropped_shutdown")
                              + stat_sum(st, ".send_errors")),
            "delivered": s.get("packets", 0), "invalid": s.get("invalid", 0),
            "softnet_dropped": soft1 - soft0,
            "p50": s.get("lat_p50_us", 0), "p99": s.get("lat_p99_us", 0),
            "p999": s.get("lat_p999_us", 0), "lat_max": s.get("lat_max_us", 0),
            "cpu": agent.cpu, "agent_wall": agent.wall, "rss_kb": agent.rss_kb,
            "tcpreplay_rc": rp.rc,
        }
        row["zero_drop"] = (row["kernel_dropped"] == 0 and row["agent_dropped"] == 0 and
                            row["if_dropped"] == 0 and sent > 0 and row["delivered"] == sent and
                            row["frames"] == sent)
        rows.append(row)
    print()
    print("== Live capture: tcpreplay -> veth -> hepagent (own namespace) -> UDP sink on its "
          "loopback; %.0f s per rate" % args.duration)
    print("   capture %s: %d records, replayed with --pps, looped as needed; kernel buffer %s"
          % (os.path.basename(args.capture), records, "%d MB" % args.buffer_mb))
    hdr = ("%8s %8s %10s %9s %9s %8s %8s %9s %9s %8s %7s %7s %8s %6s %6s %s" % (
        "rate", "sent", "actual/s", "k_recv", "k_drop", "softnet", "frames", "hep_pkts",
        "delivered", "ag_drop", "p50_us", "p99_us", "max_us", "cpu%", "rssMB", "zero-drop"))
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%8d %8d %10.0f %9d %9d %8d %8d %9d %9d %8d %7d %7d %8d %6.1f %6.1f %s" % (
            r["rate"], r["sent"], r["actual_pps"], r["kernel_received"], r["kernel_dropped"],
            r["softnet_dropped"], r["frames"], r["hep_packets"], r["delivered"],
            r["agent_dropped"], r["p50"], r["p99"], r["lat_max"],
            100 * r["cpu"] / r["send_s"] if r["send_s"] else 0, r["rss_kb"] / 1024,
            "yes" if r["zero_drop"] else "NO"))
    ok = [r["rate"] for r in rows if r["zero_drop"]]
    best = 0
    for r in rows:  # the highest rate up to which every rate had no drop
        if not r["zero_drop"]:
            break
        best = r["rate"]
    print("  highest rate with zero drops: %s%s" % (
        "%d msg/s" % best if best else "none",
        "" if len(ok) == len([r for r in rows if r["rate"] <= (best or 0)])
        else " (higher rates passing too: %s)" % ",".join(str(x) for x in ok if x > best)))
    for r in rows:
        if r["actual_pps"] < 0.95 * r["rate"]:
            print("  note: at %d msg/s tcpreplay reached only %.0f msg/s (the sender's limit on "
                  "this machine)" % (r["rate"], r["actual_pps"]))
    lat = [r for r in rows if r["rate"] == args.latency_rate]
    if lat:
        r = lat[0]
        print("  latency at %d msg/s (sink receive time - HEP capture time): p50 %d us, p99 %d us,"
              " p99.9 %d us, max %d us" % (r["rate"], r["p50"], r["p99"], r["p999"], r["lat_max"]))
    print("  (k_recv/k_drop: pcap_stats of hepagent's socket; softnet: /proc/net/softnet_stat "
          "drops during the replay, machine-wide;\n   ag_drop: collector dropped_queue_full + "
          "dropped_shutdown + send_errors; cpu%%: hepagent CPU time / replay time;\n   rssMB "
          "includes the %d MB capture ring (TPACKET_V3, mmap'd socket pages counted as RSS))"
          % args.buffer_mb)
    with open(os.path.join(args.workdir, "live.json"), "w") as f:
        json.dump(rows, f, indent=1)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("offline")
    o.add_argument("--bin", required=True)
    o.add_argument("--capture", action="append", required=True, help="NAME=PCAP:META")
    o.add_argument("--repeat", type=int, default=3)
    o.add_argument("--sngrep", action="store_true")
    o.add_argument("--relay", action="store_true", help="also relay the UDP capture's HEP")
    o.add_argument("--relay-pps", type=int, default=0,
                   help="pace the UDP feed of the relay (0: as fast as it can send)")
    o.add_argument("--config", required=True, help="hepagent config (-r and -H override it)")
    o.add_argument("--case-timeout", type=float, default=300)
    o.add_argument("--workdir", default=".")
    lv = sub.add_parser("live")
    lv.add_argument("--bin", required=True)
    lv.add_argument("--capture", required=True)
    lv.add_argument("--meta", required=True)
    lv.add_argument("--tx-ns", required=True)
    lv.add_argument("--tx-if", required=True)
    lv.add_argument("--rx-ns", required=True)
    lv.add_argument("--rx-if", required=True)
    lv.add_argument("--rates", default="10000,50000,100000,200000")
    lv.add_argument("--duration", type=float, default=5)
    lv.add_argument("--latency-rate", type=int, default=10000)
    lv.add_argument("--config", required=True, help="hepagent config (-i and -H override it)")
    lv.add_argument("--buffer-mb", type=int, default=32, help="the capture buffer it sets")
    lv.add_argument("--workdir", default=".")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return offline(args) if args.cmd == "offline" else live(args)
    finally:
        stop_children()


if __name__ == "__main__":
    sys.exit(main())
