#!/usr/bin/env python3
"""SIP over TLS decrypted while its keys arrive late, and live.

usage: tls_decrypt.py BUILD_DIR      (root: captures on lo)

1. Key delivery timing. tests/pcap/tls/tls13_aes128gcm.pcap is replayed with
   --realtime, reshaped: a frame of other traffic first, the TLS connection
   from 0.5 s with a pause of 0.7 s in the middle of the call, a frame of
   other traffic at 2.0 s; so keys can come before the traffic, in the
   middle of it (the records before the pause wait, those after come with
   the key there) and after it. The key log comes as a file that is empty at
   start and gets the lines at a chosen moment, or as UDP datagrams (one
   line each, as Kamailio's keylog_peer sends them) to --tls-keylog-listen.
   Swept over: before (0.2 s), in the pause (0.9 s), after (1.6 s); each
   twice. Every run must send the 9 messages a run with the key log given
   at start sends, byte for byte, with the same times; keys in the pause or
   after are counted in tls.sessions_key_late. With pending_ms 300 and the
   key at 1.6 s, nothing is sent and tls.pending_expired counts the session.
2. Live: hepagent -i lo captures a TLS 1.3 call (tests/tools/record_tls.py's
   exchange, Python ssl) while a forwarder sends each new line of the key
   log the exchange writes as a datagram to hepagent's listener (and a
   malformed copy of each); every SIP message the exchange sent arrives,
   byte-identical; the malformed lines are counted; no secret appears in
   hepagent's output at debug level.
Exit 0 on success; prints what differed and exits 1.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
sys.path.insert(0, os.path.join(REPO, "tests", "pcap"))
import pcapfile  # noqa: E402

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(REPO, "build")
AGENT = os.path.join(BUILD, "hepagent")
SINK = os.path.join(BUILD, "tests", "hep_sink")
CAPTURE = os.path.join(REPO, "tests", "pcap", "tls", "tls13_aes128gcm")
RULES_ALL = os.path.join(REPO, "tests", "pcap", "rules_all.json")
errors = []


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def padded_capture(work):
    """The capture with a UDP frame 0.5 s before its first frame, its second
    half 0.7 s later, and a UDP frame at 2.0 s (other traffic: no SIP, no
    TLS)."""
    pcap = pcapfile.read_pcap_file(CAPTURE + ".pcap")
    half = len(pcap.records) // 2
    recs = []
    for i, r in enumerate(pcap.records):
        if i >= half:
            usec = r.frac + 700000
            r = r._replace(sec=r.sec + usec // 1000000, frac=usec % 1000000)
        recs.append(r)
    first = recs[0].sec + recs[0].frac / 1e6
    last = first + 2.0
    # Ethernet + IPv4 + UDP 127.0.0.1:9 -> :9 with 4 bytes
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 32, 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                     bytes([127, 0, 0, 1]))
    filler = b"\0" * 12 + b"\x08\x00" + ip + struct.pack(">HHHH", 9, 9, 12, 0) + b"idle"

    def rec(t, frame):
        sec = int(t)
        return struct.pack(pcap.endian + "IIII", sec, int(round((t - sec) * 1e6)), len(frame),
                           len(frame)) + frame
    out = bytearray(pcap.header)
    out += rec(first - 0.5, filler)
    for r in recs:
        out += struct.pack(pcap.endian + "IIII", r.sec, r.frac, r.caplen, r.wirelen) + r.frame
    out += rec(last, filler)
    path = os.path.join(work, "padded.pcap")
    open(path, "wb").write(out)
    return path


class Sink:
    def __init__(self, work, name):
        self.out = os.path.join(work, name + ".jsonl")
        portfile = os.path.join(work, name + ".port")
        for p in (self.out, portfile):
            if os.path.exists(p):
                os.unlink(p)
        self.proc = subprocess.Popen([SINK, "-u", "0", "-p", portfile, "-o", self.out],
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(portfile) and open(portfile).read().strip():
                break
            time.sleep(0.02)
        self.port = int(open(portfile).read().split()[0])

    def packets(self):
        time.sleep(0.3)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)
        return [json.loads(line) for line in open(self.out)] if os.path.exists(self.out) else []


def run_agent(work, name, args, feeder=None):
    """hepagent into a fresh sink; feeder(start_time) runs alongside."""
    sink = Sink(work, name)
    cmd = [AGENT, "-H", "udp://127.0.0.1:%d" % sink.port, "--stats", "-c", RULES_ALL] + args
    start = time.monotonic()
    agent = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    t = None
    if feeder:
        t = threading.Thread(target=feeder, args=(start,))
        t.start()
    _, err = agent.communicate(timeout=60)
    if t:
        t.join()
    stats = dict(line.rsplit(" ", 1) for line in err.splitlines()
                 if line and not line.startswith("hepagent:"))
    return sink.packets(), stats


def config(work, name, pending_ms, listen=None):
    doc = {"rules": [{"name": "all"}], "collectors": [],
           "tls_decrypt": {"pending_ms": pending_ms}}
    if listen:
        doc["tls_decrypt"]["keylog_listen"] = listen
    path = os.path.join(work, name + ".json")
    json.dump(doc, open(path, "w"))
    return path


def key_lines():
    return [l.strip() for l in open(CAPTURE + ".keys") if l.strip() and not l.startswith("#")]


def file_feeder(path, at):
    def feed(start):
        time.sleep(max(0, start + at - time.monotonic()))
        with open(path, "a") as f:
            f.write("\n".join(key_lines()) + "\n")
    return feed


def listening(port):
    """Whether a UDP socket (hepagent's listener) holds 127.0.0.1:port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def udp_feeder(port, at):
    def feed(start):
        # datagrams before the listener is up are lost, as they would be
        # with Kamailio; the listener opens before the replay starts
        for _ in range(1000):
            if listening(port):
                break
            time.sleep(0.01)
        time.sleep(max(0, start + at - time.monotonic()))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for line in key_lines():
            s.sendto(line.encode(), ("127.0.0.1", port))
        s.close()
    return feed


def messages(packets):
    return [(p["src"], p["sport"], p["dst"], p["dport"], p["sec"], p["usec"], p["payload"])
            for p in packets]


def timing(work):
    padded = padded_capture(work)
    ref, stats = run_agent(work, "reference", ["-r", padded, "--realtime", "--tls-keylog",
                                                CAPTURE + ".keys"])
    if len(ref) != 9:
        errors.append("keys at start: %d messages sent, 9 expected" % len(ref))
    cases = []
    for at, when in ((0.2, "before"), (0.9, "middle"), (1.6, "after")):
        for how in ("file", "udp"):
            for attempt in (1, 2):
                cases.append((how, at, when, attempt))
    for how, at, when, attempt in cases:
        name = "%s_%s_%d" % (how, when, attempt)
        if how == "file":
            keys = os.path.join(work, name + ".keys")
            open(keys, "w").close()
            os.chmod(keys, 0o600)
            args = ["--tls-keylog", keys, "-c", config(work, name, 5000)]
            feed = file_feeder(keys, at)
        else:
            port = free_udp_port()
            args = ["-c", config(work, name, 5000, "udp://127.0.0.1:%d" % port)]
            feed = udp_feeder(port, at)
        got, stats = run_agent(work, name, ["-r", padded, "--realtime"] + args, feed)
        if messages(got) != messages(ref):
            errors.append("%s: %d messages sent; not the %d the keys at start give" % (
                name, len(got), len(ref)))
        late = stats.get("tls.sessions_key_late")
        if when != "before" and late != "1":
            errors.append("%s: tls.sessions_key_late %s, expected 1" % (name, late))
        print("%s (key at %.2f s): %d messages, key late %s" % (name, at, len(got), late))
    # too late: the records wait 300 ms at most
    for how in ("file", "udp"):
        name = "%s_expired" % how
        if how == "file":
            keys = os.path.join(work, name + ".keys")
            open(keys, "w").close()
            os.chmod(keys, 0o600)
            args = ["--tls-keylog", keys, "-c", config(work, name, 300)]
            feed = file_feeder(keys, 1.6)
        else:
            port = free_udp_port()
            args = ["-c", config(work, name, 300, "udp://127.0.0.1:%d" % port)]
            feed = udp_feeder(port, 1.6)
        got, stats = run_agent(work, name, ["-r", padded, "--realtime"] + args, feed)
        if got:
            errors.append("%s: %d messages sent after pending_ms" % (name, len(got)))
        if stats.get("tls.pending_expired") != "1" or stats.get("tls.records_without_key",
                                                                  "0") == "0":
            errors.append("%s: tls.pending_expired %s, records_without_key %s" % (
                name, stats.get("tls.pending_expired"), stats.get("tls.records_without_key")))
        print("%s: %d messages, pending_expired %s, records_without_key %s" % (
            name, len(got), stats.get("tls.pending_expired"),
            stats.get("tls.records_without_key")))


def live(work):
    """hepagent -i lo while a TLS call runs and its keys come over UDP."""
    tls_port = 20000 + os.getpid() % 10000
    listen = free_udp_port()
    sink = Sink(work, "live")
    keys = os.path.join(work, "live.keys")
    expected = os.path.join(work, "live.expected.jsonl")
    cmd = [AGENT, "-v", "-i", "lo", "-H", "udp://127.0.0.1:%d" % sink.port, "--stats", "-c",
           RULES_ALL, "--tls-keylog-listen", "udp://127.0.0.1:%d" % listen,
           "tcp port %d" % tls_port]
    agent = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the capture is open

    done = threading.Event()

    def forward():  # Kamailio's keylog_peer: each line as one datagram, no line end
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pos = 0
        while not done.is_set() or (os.path.exists(keys) and os.path.getsize(keys) > pos):
            if os.path.exists(keys):
                with open(keys) as f:
                    f.seek(pos)
                    chunk = f.read()
                whole = chunk[:chunk.rfind("\n") + 1]
                pos += len(whole)
                for line in whole.splitlines():
                    if line and not line.startswith("#"):
                        s.sendto(line.encode(), ("127.0.0.1", listen))
                        # and a malformed copy: counted, never shown
                        s.sendto(b"BROKEN " + line.encode(), ("127.0.0.1", listen))
            time.sleep(0.01)
        s.close()
    fwd = threading.Thread(target=forward)
    fwd.start()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=sip.test"], check=True, capture_output=True)
        env = dict(os.environ, RECORD_TLS_EXPECTED=expected)
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "tools", "record_tls.py"),
                        "--child", str(tls_port), "tls13_aes128gcm", keys, cert, key],
                       env=env, check=True, timeout=60)
    done.set()
    fwd.join()
    time.sleep(1.0)
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=30)
    got = sink.packets()
    stats = dict(line.rsplit(" ", 1) for line in err.splitlines()
                 if line and not line.startswith("hepagent:"))
    want = [json.loads(line) for line in open(expected)]
    for side in ("c", "s"):
        w = [m["payload"] for m in want if m["side"] == side]
        g = [p["payload"] for p in got if (p["dport"] == tls_port) == (side == "c")]
        if g != w:
            errors.append("live: %s sent %d messages, %d arrived (or differ)" % (
                "client" if side == "c" else "server", len(w), len(g)))
    secrets = [l.split()[2] for l in open(keys) if len(l.split()) == 3]
    shown = [x for x in secrets if x in err or x.upper() in err]
    if shown:
        errors.append("live: %d secrets appear in hepagent's output (-v)" % len(shown))
    if stats.get("keylog.malformed", "0") == "0":
        errors.append("live: the malformed key lines were not counted")
    print("live: %d of %d messages, keylog.datagrams %s, tls.sessions_key_late %s" % (
        len(got), len(want), stats.get("keylog.datagrams"), stats.get("tls.sessions_key_late")))


def main():
    with tempfile.TemporaryDirectory() as work:
        timing(work)
        live(work)
    if errors:
        print("FAIL:\n  " + "\n  ".join(errors))
        sys.exit(1)
    print("ok: TLS decrypted with keys from a file and over UDP, early, late and live")


if __name__ == "__main__":
    main()
