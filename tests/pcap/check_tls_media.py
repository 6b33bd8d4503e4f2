#!/usr/bin/env python3
"""Media of a call whose SIP travels in TLS: tracked from the decrypted SDP.

usage: check_tls_media.py BUILD_DIR

tests/pcap/tls/tls13_aes128gcm.pcap holds a call over TLS 1.3 whose INVITE
and 200 OK announce audio at 127.0.0.1:40000. This script adds, between the
ACK and the BYE (their capture times taken from a first run of hepagent with
the key log), 50 G.711 RTP packets 127.0.0.1:40002 -> :40000 and one RTCP
compound packet (SR + SDES) 127.0.0.1:40003 -> :40001, then runs hepagent
with media.rtcp and media.qos on (tests/pcap/media.json):
  * with the key log: the RTCP packet arrives as HEP type 5 and one final
    QoS report (type 0x22) for the stream, both with correlation id = the
    call's Call-ID; the report counts the 50 packets, 0 lost, codec PCMU;
  * without it: the SDP is never seen, so neither is sent.
Exit 0 on success; otherwise prints what differed and exits 1.
"""
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import gen_captures as g  # noqa: E402
import gen_media as gm  # noqa: E402
import pcapfile  # noqa: E402

sys.path.insert(0, HERE)
from check_capture import run_agent  # noqa: E402  (hepagent -r into a fresh hep_sink)

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(REPO, "build")
CAPTURE = os.path.join(REPO, "tests", "pcap", "tls", "tls13_aes128gcm")
RTP_COUNT = 50
SSRC = 0x5EC0A1D1


def run(work, name, pcap, config, keys):
    """What hepagent -r sends with the key log keys, in a fresh sink."""
    sub = os.path.join(work, name)
    os.mkdir(sub)
    packets, _ = run_agent(BUILD, pcap, ["-c", config, "--tls-keylog", keys], sub)
    return packets


def sip_time(packets, method):
    for p in packets:
        body = bytes.fromhex(p["payload"])
        if p["ptype"] == 1 and body.startswith(method.encode() + b" "):
            return p["sec"] * 1000000 + p["usec"], body
    raise SystemExit("no %s decrypted from %s.pcap" % (method, CAPTURE))


def with_media(work, ack_us, bye_us):
    """The capture with RTP and RTCP frames between ack_us and bye_us."""
    pcap = pcapfile.read_pcap_file(CAPTURE + ".pcap")
    frames = [(r.sec * 1000000 + r.frac, i, r.frame) for i, r in enumerate(pcap.records)]
    wrap = g.eth_wrap()
    step = (bye_us - ack_us) // (RTP_COUNT + 2)
    media = []
    for i in range(RTP_COUNT):
        rtp = gm.rtp_packet(1000 + i, 160 * i, SSRC, 0, i == 0, b"\xff" * 160)
        media.append((ack_us + (i + 1) * step, g.udp("127.0.0.1", "127.0.0.1", 40002, 40000,
                                                     rtp)))
    rtcp = gm.rtcp_sr(SSRC, ack_us, 160 * RTP_COUNT, RTP_COUNT, 160 * RTP_COUNT) + \
        gm.rtcp_sdes(SSRC, "alice@sip.test")
    media.append((ack_us + (RTP_COUNT + 1) * step,
                  g.udp("127.0.0.1", "127.0.0.1", 40003, 40001, rtcp)))
    for n, (t, dgram) in enumerate(media):
        frames.append((t, len(pcap.records) + n, wrap(g.ip("127.0.0.1", "127.0.0.1", g.P_UDP,
                                                             dgram, 0x4000 + n), True)))
    out = bytearray(pcap.header)
    for t, _, frame in sorted(frames):
        sec, usec = divmod(t, 1000000)
        out += struct.pack(pcap.endian + "IIII", sec, usec, len(frame),
                                    len(frame)) + frame
    path = os.path.join(work, "tls_media.pcap")
    open(path, "wb").write(out)
    return path


def main():
    errors = []
    config = os.path.join(REPO, "tests", "pcap", "media.json")
    keys = CAPTURE + ".keys"
    with tempfile.TemporaryDirectory() as work:
        sip = run(work, "sip", CAPTURE + ".pcap", config, keys)
        ack_us, _ = sip_time(sip, "ACK")
        bye_us, bye = sip_time(sip, "BYE")
        call_id = [l.split(b":", 1)[1].strip() for l in bye.split(b"\r\n")
                   if l.lower().startswith(b"call-id:")][0].decode()
        if not ack_us < bye_us:
            raise SystemExit("ACK at %d is not before BYE at %d" % (ack_us, bye_us))
        pcap = with_media(work, ack_us, bye_us)
        got = run(work, "keys", pcap, config, keys)
        rtcp = [p for p in got if p["ptype"] == 5]
        qos = [p for p in got if p["ptype"] == 0x22]
        if len(rtcp) != 1 or rtcp[0].get("corr") != call_id or rtcp[0]["sport"] != 40003:
            errors.append("with keys: RTCP sent %s, expected one from :40003 with "
                          "correlation id %s" % ([(p.get("corr"), p["sport"]) for p in rtcp],
                                                 call_id))
        reports = [json.loads(bytes.fromhex(p["payload"])) for p in qos]
        finals = [(p, r) for p, r in zip(qos, reports) if r.get("final")]
        if len(finals) != 1:
            errors.append("with keys: %d final QoS reports, expected 1" % len(finals))
        else:
            p, r = finals[0]
            want = {"ssrc": SSRC, "packets": RTP_COUNT, "lost": 0, "codec": "PCMU"}
            have = {k: r.get(k) for k in want}
            if have != want or p.get("corr") != call_id or p["dport"] != 40000:
                errors.append("with keys: QoS report %s (corr %s, dport %d), expected %s "
                              "(corr %s, dport 40000)" % (have, p.get("corr"), p["dport"],
                                                          want, call_id))
        sip_count = sum(1 for p in got if p["ptype"] == 1)
        if sip_count != len(sip):
            errors.append("with keys: %d SIP messages, %d without media" % (sip_count,
                                                                             len(sip)))
        empty = os.path.join(work, "empty.keys")
        open(empty, "w").close()
        os.chmod(empty, 0o600)
        none = run(work, "nokeys", pcap, config, empty)
        if none:
            errors.append("without keys: %d packets sent (%s), expected none" % (
                len(none), sorted({p["ptype"] for p in none})))
        print("Call-ID %s: %d RTCP, %d QoS reports with keys; %d packets without" % (
            call_id, len(rtcp), len(qos), len(none)))
    if errors:
        print("FAIL:\n  " + "\n  ".join(errors))
        sys.exit(1)
    print("ok: RTCP and QoS of a call set up over TLS carry its Call-ID")


if __name__ == "__main__":
    main()
