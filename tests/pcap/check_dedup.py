#!/usr/bin/env python3
"""De-duplication on what a user has: one pcapng from two interfaces
(dumpcap -i eth0 -i eth1, two mirror ports) holding the same calls twice,
with real SIP retransmissions.

usage: check_dedup.py BUILD_DIR [CAPTURE]   (default: udp/zeek_wireshark_sip.pcap)

From an Ethernet capture it writes a pcapng with two interfaces: every frame
on interface 0 at its time t and again on interface 1 at t + d, d swept over
0, 10 us, 1 ms, 20 ms, 49.999 ms, exactly 50 ms (all duplicates: the window
is 50 ms), 50.001 ms and 60 ms (not duplicates: later than the window); and
every fifth SIP frame retransmitted 500 ms later on both interfaces (the
second copy again d later). hepagent -r with "dedup": {"window_ms": 50} must
send each message once at its first time, the late copies (d > 50 ms) once
more, and each retransmission once; without dedup, everything. The capture
alone must lose nothing to dedup (it holds no copies of its own).

The same two interfaces as two classic pcap files, one per interface (as two
tcpdump -w would write them), given as -r A -r B and as -r B -r A: hepagent
reads them merged by time, so dedup sends exactly the same.
"""
import collections
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import pcapfile  # noqa: E402

DELAYS_US = [0, 10, 1000, 20000, 49999, 50000, 50001, 60000]
WINDOW_US = 50000
RETX_US = 500000


def pcapng(frames, path):
    """frames: [(iface, t_us, bytes)] in time order; two Ethernet interfaces."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)
    out = block(0x0a0d0d0a, struct.pack("<IHHq", 0x1a2b3c4d, 1, 0, -1))
    for _ in range(2):
        out += block(1, struct.pack("<HHI", 1, 0, 262144))
    for iface, t, data in frames:
        out += block(6, struct.pack("<IIIII", iface, t >> 32, t & 0xffffffff, len(data),
                                    len(data)) + data)
    open(path, "wb").write(out)


def classic_pcap(frames, path):
    """frames: [(t_us, bytes)] in time order; Ethernet, microseconds."""
    out = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1)
    for t, data in frames:
        out += struct.pack("<IIII", t // 1000000, t % 1000000, len(data), len(data)) + data
    open(path, "wb").write(out)


def sent(build, cfg, caps, tmp):
    """(payload, t_us) of every HEP packet hepagent queued; caps: one file or
    a list of them (-r each)."""
    hep = os.path.join(tmp, "hep.pcap")
    reads = []
    for cap in [caps] if isinstance(caps, str) else caps:
        reads += ["-r", cap]
    p = subprocess.run([os.path.join(build, "hepagent"), "-c", cfg] + reads + ["--hep-pcap", hep,
                       "-q", "--stats"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=120)
    if p.returncode:
        sys.exit("hepagent exited %d: %s" % (p.returncode, p.stderr.decode()[-300:]))
    out = []
    for r in pcapfile.read_pcap_file(hep).records:
        f = r.frame
        b = f[14 + (f[14] & 15) * 4 + 8:]
        fields, off = {}, 6
        while off < len(b):
            v, t, n = struct.unpack(">HHH", b[off:off + 6])
            fields[t] = b[off + 6:off + n]
            off += n
        sec, usec = struct.unpack(">I", fields[9])[0], struct.unpack(">I", fields[10])[0]
        out.append((fields[15], sec * 1000000 + usec))
    return out


def main():
    build = os.path.abspath(sys.argv[1])
    src = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        REPO, "tests/pcap/corpus/udp/zeek_wireshark_sip.pcap")
    cap = pcapfile.read_pcap_file(src)
    if cap is None or cap.linktype != 1:
        sys.exit("%s: an Ethernet classic pcap is needed" % src)
    tmp = tempfile.mkdtemp(prefix="hepagent-dedup.")
    on, off = os.path.join(tmp, "on.json"), os.path.join(tmp, "off.json")
    json.dump({"rules": [{"name": "all"}], "collectors": [],
               "dedup": {"window_ms": WINDOW_US // 1000}}, open(on, "w"))
    json.dump({"rules": [{"name": "all"}], "collectors": []}, open(off, "w"))

    alone = sent(build, on, src, tmp)
    if sorted(alone) != sorted(sent(build, off, src, tmp)):
        sys.exit("%s alone: dedup dropped something (the capture has copies of its own?)" % src)
    first = {}  # payload -> its capture time, the SIP frames of the capture
    for payload, t in alone:
        first.setdefault(payload, t)

    frames, want = [], collections.Counter()
    scale = 1000 if cap.nano else 1
    sip_n = 0
    for i, r in enumerate(cap.records):
        t = r.sec * 1000000 + r.frac // scale
        d = DELAYS_US[i % len(DELAYS_US)]
        frames += [(0, t, r.frame), (1, t + d, r.frame)]
        payload = next((p for p, pt in alone if pt == t and p in r.frame), None)
        if payload is None:
            continue  # not a SIP message hepagent sends
        sip_n += 1
        want[(payload, t)] += 1
        if d > WINDOW_US:
            want[(payload, t + d)] += 1
        if sip_n % 5 == 0:
            frames += [(0, t + RETX_US, r.frame), (1, t + RETX_US + d, r.frame)]
            want[(payload, t + RETX_US)] += 1
            if d > WINDOW_US:
                want[(payload, t + RETX_US + d)] += 1
    frames.sort(key=lambda f: (f[1], f[0]))
    two = os.path.join(tmp, "two_interfaces.pcapng")
    pcapng(frames, two)

    everything = sent(build, off, two, tmp)
    if len(everything) != 2 * sip_n + 2 * (sip_n // 5):
        sys.exit("without dedup %d messages, want %d" % (len(everything),
                                                          2 * sip_n + 2 * (sip_n // 5)))
    got = collections.Counter(sent(build, on, two, tmp))
    if got != want:
        extra, missing = got - want, want - got
        sys.exit("with dedup: %d sent, want %d; %d unexpected (e.g. at %s), %d missing (e.g. at "
                 "%s)" % (sum(got.values()), sum(want.values()), sum(extra.values()),
                          [t for _, t in list(extra)[:3]], sum(missing.values()),
                          [t for _, t in list(missing)[:3]]))
    # the same as two files, one per interface, in either order
    per_iface = []
    for iface in (0, 1):
        path = os.path.join(tmp, "eth%d.pcap" % iface)
        classic_pcap([(t, data) for i, t, data in frames if i == iface], path)
        per_iface.append(path)
    for order in (per_iface, per_iface[::-1]):
        files = collections.Counter(sent(build, on, order, tmp))
        if files != want:
            sys.exit("with dedup, -r %s: %d sent, want %d (as from one pcapng)" % (
                " -r ".join(os.path.basename(f) for f in order), sum(files.values()),
                sum(want.values())))
    print("%d SIP messages on two interfaces (copies 0 to 60 ms apart) and %d retransmissions "
          "500 ms later: %d sent with dedup (also from two files, either order), %d without" %
          (sip_n, sip_n // 5, sum(got.values()), len(everything)))


if __name__ == "__main__":
    main()
