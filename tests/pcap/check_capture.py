#!/usr/bin/env python3
"""Replays one capture through hepagent into hep_sink and compares what arrived
with what tshark finds in the capture (TCP reassembly on, out-of-order segments
included), and with the capture's list of expected messages if it has one.

usage: check_capture.py BUILD_DIR CAPTURE EXPECTED [--tshark N] [--stat NAME=VALUE]...
                        [-- AGENT_ARGS...]

Checks, in order:
  * the number of HEP packets equals EXPECTED;
  * tshark finds EXPECTED SIP messages too; with --tshark N, for captures where
    hepagent and tshark disagree on purpose (TESTLIST says why), tshark finds N
    and nothing else is compared with tshark;
  * the HEP payloads, concatenated in arrival order, equal the SIP bytes tshark
    shows, concatenated in frame order (per frame: the innermost UDP payload,
    or TCP's reassembled data / segment payload);
  * per message (one SIP message per frame): payload, innermost addresses and
    ports, IP protocol, capture timestamp and innermost VLAN equal the frame's;
  * if CAPTURE has a sidecar NAME.expected.jsonl (tests/tools/gen_captures.py
    writes one per generated capture), the HEP packets are exactly the messages
    it lists, in any order: bytes, innermost addresses, ports, IP protocol,
    VLAN, and the capture time of each message's first byte;
  * each --stat NAME=VALUE: hepagent's counter NAME (as --stats prints it) is
    VALUE.
A relative config file in AGENT_ARGS (-c FILE) is taken from tests/pcap.
Exit 0 on success; otherwise prints what differed and exits 1.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))

def sip_prefix(data, count):
    """The first count SIP messages framed from TCP bytes (by Content-Length,
    compact form too): tshark's reassembled data also holds the first bytes
    of the next message when one segment ends a message and starts another."""
    out, pos = b"", 0
    for _ in range(count):
        while data[pos:pos + 1] in (b"\r", b"\n"):
            pos += 1
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return data
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", data[pos:end + 2])
        stop = end + 4 + (int(m.group(1)) if m else 0)
        out += data[pos:stop]
        pos = stop
    return out


def tshark_messages(capture):
    """One dict per frame tshark dissects as SIP."""
    fields = ["frame.number", "frame.time_epoch", "frame.protocols", "ip.src", "ip.dst",
              "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
              "sctp.srcport", "sctp.dstport", "udp.payload", "tcp.reassembled.data",
              "tcp.payload", "sip.CSeq", "vlan.id", "ip.fragment", "ipv6.fragment", "tcp.segment"]
    cmd = ["tshark", "-n", "-r", capture, "-o", "tcp.desegment_tcp_streams:TRUE",
           "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "sip", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    # a reassembled message carries the capture time of its first byte: the
    # first segment tshark lists for it, and of that segment (or datagram)
    # the first IP fragment
    first_fragment, times = {}, {}
    for line in subprocess.run(
            ["tshark", "-n", "-r", capture, "-T", "fields", "-E", "occurrence=f", "-e",
             "frame.number", "-e", "frame.time_epoch", "-e", "ip.fragment", "-e",
             "ipv6.fragment"], check=True, capture_output=True, text=True).stdout.splitlines():
        number, when, frag4, frag6 = line.split("\t")
        times[number] = when
        first_fragment[number] = (frag4 or frag6 or number).split(",")[0]
    frames = []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        last = lambda k: v.get(k, "").split("|")[-1]
        # the innermost layers are the last ones in the protocol stack
        layers = v["frame.protocols"].split(":")
        innermost = lambda names: max(names, key=lambda n: max(
            (i for i, x in enumerate(layers) if x == n), default=-1))
        l4 = innermost(("udp", "tcp", "sctp"))
        l3 = innermost(("ip", "ipv6"))
        count = len([c for c in v.get("sip.CSeq", "").split("|") if c])
        first = v["frame.number"]
        if l4 == "tcp":
            data = sip_prefix(bytes.fromhex(last("tcp.reassembled.data") or last("tcp.payload")),
                              count)
            first = (v.get("tcp.segment") or first).split("|")[0]
        elif l4 == "udp":
            data = bytes.fromhex(last("udp.payload"))
        else:
            data = b""  # no field holds the bytes of SIP in SCTP DATA chunks
        frames.append({
            "frame": int(v["frame.number"]),
            "time": times[first_fragment[first]],
            "src": last(l3 + ".src"),
            "dst": last(l3 + ".dst"),
            "sport": int(last(l4 + ".srcport")),
            "dport": int(last(l4 + ".dstport")),
            "proto": {"tcp": 6, "udp": 17, "sctp": 132}[l4],
            "data": data,
            "count": count,
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


def message_key(payload, m):
    return (payload, m["src"], m["dst"], m["sport"], m["dport"], m["proto"], m["sec"],
            m["usec"], m.get("vlan"))


KEY_NAMES = ("payload", "src", "dst", "sport", "dport", "proto", "sec", "usec", "vlan")


def describe(key):
    first_line = key[0].split(b"\r\n", 1)[0].decode("latin-1")[:60]
    return "%r %s:%s -> %s:%s proto %s at %s.%06d vlan %s (%d bytes)" % (
        first_line, key[1], key[3], key[2], key[4], key[5], key[6], key[7], key[8], len(key[0]))


def compare_sidecar(packets, sidecar, expected):
    """The HEP packets against the generator's list, as multisets."""
    want = [message_key(m["payload"].encode("latin-1"), m)
            for m in map(json.loads, open(sidecar))]
    errors = []
    if len(want) != expected:
        errors.append("%s lists %d messages, TESTLIST says %d" %
                      (os.path.basename(sidecar), len(want), expected))
    ours = Counter(message_key(bytes.fromhex(p.get("payload", "")), p) for p in packets)
    theirs = Counter(want)
    missing = list((theirs - ours).elements())
    extra = list((ours - theirs).elements())
    for key in missing:
        twin = next((k for k in extra if k[0] == key[0]), None)
        if twin:
            extra.remove(twin)
            diff = ["%s %s (expected %s)" % (n, twin[i], key[i])
                    for i, n in enumerate(KEY_NAMES) if twin[i] != key[i]]
            errors.append("sent with wrong %s: %s" % (", ".join(diff), describe(key)))
        else:
            errors.append("not sent: " + describe(key))
    for key in extra:
        errors.append("sent but not expected: " + describe(key))
    return errors


def parse_args(argv):
    args, agent_args = argv, []
    if "--" in args:
        i = args.index("--")
        args, agent_args = args[:i], args[i + 1:]
    for i, a in enumerate(agent_args[:-1]):
        if a in ("-c", "--config") and not os.path.isabs(agent_args[i + 1]):
            agent_args[i + 1] = os.path.join(HERE, agent_args[i + 1])
    build, capture, expected = args[0], args[1], int(args[2])
    tshark_expected, stat_checks = None, []
    rest = args[3:]
    while rest:
        if rest[0] == "--tshark" and len(rest) > 1:
            tshark_expected = int(rest[1])
        elif rest[0] == "--stat" and len(rest) > 1 and "=" in rest[1]:
            stat_checks.append(rest[1].split("=", 1))
        else:
            sys.exit("check_capture.py: bad arguments: %s" % " ".join(rest))
        rest = rest[2:]
    return build, capture, expected, tshark_expected, stat_checks, agent_args


def main():
    build, capture, expected, tshark_expected, stat_checks, agent_args = parse_args(sys.argv[1:])
    # without --tshark, tshark must agree with hepagent in everything
    tshark_agrees = tshark_expected is None
    if tshark_agrees:
        tshark_expected = expected

    errors = []
    with tempfile.TemporaryDirectory() as work:
        packets, stats = run_agent(build, capture, agent_args, work)
    bad = [p for p in packets if "error" in p]
    if bad:
        errors.append("sink rejected %d packets: %s" % (len(bad), bad[0]["error"]))
    if len(packets) != expected:
        errors.append("hepagent sent %d HEP packets, expected %d" % (len(packets), expected))
    for name, value in stat_checks:
        if stats.get(name) != value:
            errors.append("counter %s is %s, expected %s" % (name, stats.get(name), value))
    sidecar = os.path.splitext(capture)[0] + ".expected.jsonl"
    if os.path.exists(sidecar):
        errors += compare_sidecar([p for p in packets if "error" not in p], sidecar, expected)

    # frames tshark marks as SIP but where it finds no message (no CSeq) do not count
    frames = [f for f in tshark_messages(capture) if f["count"] > 0]
    tshark_count = sum(f["count"] for f in frames)
    if tshark_count != tshark_expected:
        errors.append("tshark finds %d SIP messages, TESTLIST says %d" %
                      (tshark_count, tshark_expected))

    if tshark_agrees:
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
