#!/usr/bin/env python3
"""Replays one capture through hepagent into hep_sink and compares what arrived
with what tshark finds in the capture (TCP reassembly on).

usage: check_capture.py BUILD_DIR CAPTURE EXPECTED [--tshark N] [-- AGENT_ARGS...]

Checks, in order:
  * the number of HEP packets equals EXPECTED;
  * tshark finds EXPECTED SIP messages too (or N with --tshark N, for captures
    where hepagent and tshark disagree on purpose: TESTLIST says why);
  * the HEP payloads, concatenated in arrival order, equal the SIP bytes tshark
    shows, concatenated in frame order (per frame: the innermost UDP payload,
    or TCP's reassembled data / segment payload);
  * per message (one SIP message per frame): payload, innermost addresses and
    ports, IP protocol, capture timestamp and innermost VLAN equal the frame's.
Exit 0 on success; otherwise prints what differed and exits 1.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def tshark_messages(capture):
    """One dict per frame tshark dissects as SIP."""
    fields = ["frame.number", "frame.time_epoch", "frame.protocols", "ip.src", "ip.dst",
              "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
              "udp.payload", "tcp.reassembled.data", "tcp.payload", "sip.CSeq", "vlan.id",
              "ip.fragment", "ipv6.fragment", "tcp.segment"]
    cmd = ["tshark", "-n", "-r", capture, "-o", "tcp.desegment_tcp_streams:TRUE",
           "-Y", "sip", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # a reassembled message carries the capture time of its first byte: the
    # first fragment or segment tshark lists for it
    times = dict(line.split("\t") for line in subprocess.run(
        ["tshark", "-n", "-r", capture, "-T", "fields", "-e", "frame.number", "-e",
         "frame.time_epoch"], check=True, capture_output=True, text=True).stdout.splitlines())
    frames = []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        last = lambda k: v.get(k, "").split("|")[-1]
        # the innermost layers are the last ones in the protocol stack
        layers = v["frame.protocols"].split(":")
        l4 = max(("udp", "tcp"), key=lambda n: max((i for i, x in enumerate(layers) if x == n),
                                                   default=-1))
        l3 = max(("ip", "ipv6"), key=lambda n: max((i for i, x in enumerate(layers) if x == n),
                                                   default=-1))
        if l4 == "tcp":
            data = last("tcp.reassembled.data") or last("tcp.payload")
        else:
            data = last("udp.payload")
        first = (v.get("ip.fragment") or v.get("ipv6.fragment") or v.get("tcp.segment") or
                 v["frame.number"]).split("|")[0].split(",")[0]
        frames.append({
            "frame": int(v["frame.number"]),
            "time": times[first],
            "src": last(l3 + ".src"),
            "dst": last(l3 + ".dst"),
            "sport": int(last(l4 + ".srcport")),
            "dport": int(last(l4 + ".dstport")),
            "proto": 6 if l4 == "tcp" else 17,
            "data": bytes.fromhex(data),
            "count": len([c for c in v.get("sip.CSeq", "").split("|") if c]),
            "vlan": int(last("vlan.id")) if v.get("vlan.id") else None,
        })
    return frames


def run_agent(build, capture, agent_args, workdir):
    portfile = os.path.join(workdir, "port")
    out = os.path.join(workdir, "sink.jsonl")
    sink = subprocess.Popen([os.path.join(build, "tests", "hep_sink"), "-u", "0", "-p", portfile,
                             "-o", out], stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(portfile):
                break
            time.sleep(0.02)
        port = open(portfile).read().split()[0]
        cmd = [os.path.join(build, "hepagent"), "-r", capture, "-H", "udp://127.0.0.1:" + port,
               "--stats"] + agent_args
        agent = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if agent.returncode != 0:
            sys.exit("hepagent exited %d: %s" % (agent.returncode, agent.stderr))
        stats = dict(line.rsplit(" ", 1) for line in agent.stderr.splitlines()
                     if line and not line.startswith("hepagent:"))
        sent = int(stats.get("hep_packets", "0"))
        deadline = time.time() + 5
        while time.time() < deadline:
            if os.path.exists(out) and sum(1 for _ in open(out)) >= sent:
                break
            time.sleep(0.02)
        time.sleep(0.05)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(timeout=10)
    packets = [json.loads(line) for line in open(out)]
    return packets, stats


def main():
    args = sys.argv[1:]
    agent_args = []
    if "--" in args:
        i = args.index("--")
        args, agent_args = args[:i], args[i + 1:]
    build, capture, expected = args[0], args[1], int(args[2])
    tshark_expected = expected
    if len(args) > 3 and args[3] == "--tshark":
        tshark_expected = int(args[4])

    errors = []
    with tempfile.TemporaryDirectory() as work:
        packets, stats = run_agent(build, capture, agent_args, work)
    bad = [p for p in packets if "error" in p]
    if bad:
        errors.append("sink rejected %d packets: %s" % (len(bad), bad[0]["error"]))
    if len(packets) != expected:
        errors.append("hepagent sent %d HEP packets, expected %d" % (len(packets), expected))

    # frames tshark marks as SIP but where it finds no message (no CSeq) do not count
    frames = [f for f in tshark_messages(capture) if f["count"] > 0]
    tshark_count = sum(f["count"] for f in frames)
    if tshark_count != tshark_expected:
        errors.append("tshark finds %d SIP messages, TESTLIST says %d" %
                      (tshark_count, tshark_expected))

    if tshark_expected == expected:
        ours = b"".join(bytes.fromhex(p.get("payload", "")) for p in packets)
        theirs = b"".join(f["data"] for f in frames)
        if ours != theirs:
            at = next((i for i in range(min(len(ours), len(theirs))) if ours[i] != theirs[i]),
                      min(len(ours), len(theirs)))
            errors.append("payload bytes differ at offset %d (ours %d bytes, tshark %d): "
                          "ours %r tshark %r" % (at, len(ours), len(theirs),
                                                  ours[at:at + 40], theirs[at:at + 40]))
        if all(f["count"] == 1 for f in frames) and len(frames) == len(packets):
            for f, p in zip(frames, packets):
                sec, usec = f["time"].split(".")
                got = (p["src"], p["dst"], p["sport"], p["dport"], p["proto"], p["sec"],
                       p["usec"])
                want = (f["src"], f["dst"], f["sport"], f["dport"], f["proto"], int(sec),
                        int(usec[:6]))
                if got != want:
                    errors.append("frame %d: HEP has %s, the frame %s" % (f["frame"], got, want))
                    break
                if p.get("vlan") != f["vlan"]:
                    errors.append("frame %d: HEP VLAN %s, the frame's %s" %
                                  (f["frame"], p.get("vlan"), f["vlan"]))
                    break
                if bytes.fromhex(p["payload"]) != f["data"]:
                    errors.append("frame %d: payload differs" % f["frame"])
                    break
    if errors:
        print("FAIL %s:\n  %s" % (capture, "\n  ".join(errors)))
        sys.exit(1)
    print("ok %s: %d messages" % (capture, expected))


if __name__ == "__main__":
    main()
