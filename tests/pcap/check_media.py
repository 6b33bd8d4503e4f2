#!/usr/bin/env python3
"""Replays one capture with calls and their media through hepagent (media.rtcp
and media.qos on) into hep_sink, and compares every HEP packet of the media
with what tshark finds in the same capture:

  * RTP: every stream `tshark -z rtp,streams` lists has exactly one final QoS
    report (HEP type 0x22): addresses, ports and SSRC equal, packets and lost
    exactly, max delta, mean and max jitter within 0.1 ms or 3 %; no report
    for a stream tshark does not list;
  * RTCP: every RTCP packet tshark decodes leaves as one HEP type 5 packet
    with the packet's own addresses, ports and capture time, whose JSON holds
    exactly the values tshark shows (sender information, every report block,
    the first SDES chunk's SSRC, the XR VoIP metrics block), or, when it has
    no SR, RR or XR VoIP metrics, leaves not at all; nothing else is type 5;
  * the correlation id of each is the Call-ID of the SIP message whose SDP
    tshark says set the stream up (rtp.setup-frame / rtcp.setup-frame), or,
    where tshark cannot know (it keys a stream by one end only, so when
    several calls announced that end the last one wins), of the one call
    whose SDP announced both ends;
  * the SIP messages are sent as before (their count is tshark's); where a
    redacting rule replaced the Call-ID, the media carry the replacement.

usage: check_media.py BUILD_DIR CAPTURE [--config FILE] [--stat NAME=VALUE]...
                      [--ident CAPTURE_ID:NODE_NAME]
--ident: every packet sent, SIP and media alike, carries this capture id and
node name (a rule's own identity).
       check_media.py BUILD_DIR CAPTURE --sink SINK.jsonl [--reason WHY]
The second form checks what a live hepagent sent (hep_sink's output) against
a capture of the same traffic (tcpdump), each final report made for WHY
(call_end, stop, ...) when given.
Exit 0 on success; otherwise prints what differed and exits 1.
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "media"))
from check_qos import LINE, close  # noqa: E402  (tshark's stream table line, the tolerance)
sys.path.insert(0, HERE)
from check_capture import run_agent  # noqa: E402  (hepagent -r into a fresh hep_sink)

DEFAULT_CONFIG = os.path.join(HERE, "media.json")


def tshark(capture):
    """One tshark run: the PDML of every frame, then its RTP stream table
    (`-z rtp,streams`, RTP found heuristically as check_qos.py does)."""
    out = subprocess.run(["tshark", "-n", "-r", capture, "-T", "pdml", "--enable-heuristic",
                          "rtp_udp", "-z", "rtp,streams"], capture_output=True, check=True).stdout
    end = out.index(b"</pdml>") + len(b"</pdml>")
    streams = {}
    for line in out[end:].decode().splitlines():
        m = LINE.match(line)
        if m:
            key = (m[1], int(m[2]), m[3], int(m[4]), int(m[5], 16))
            streams[key] = {"packets": int(m[7]), "lost": int(m[8]),
                            "delta_max_ms": float(m[12]), "jitter_mean_ms": float(m[14]),
                            "jitter_max_ms": float(m[15])}
    return ET.fromstring(out[:end]), streams


def frames_of(pdml):
    """Per frame: addresses, time, the Call-ID of SIP, the SSRC and setup
    frame of RTP, and the packets of an RTCP compound as lists of (field,
    value) in order."""
    frames = []
    for pkt in pdml.iter("packet"):
        f = {"parts": [], "callid": None, "rtp": None, "sdp": []}
        for proto in pkt.iter("proto"):
            fields = [(e.get("name"), e.get("show")) for e in proto.iter("field")]
            get = dict(fields).get
            name = proto.get("name")
            if name == "frame":
                f["number"] = int(get("frame.number"))
                f["time"] = get("frame.time_epoch")
            elif name in ("ip", "ipv6"):
                f["src"], f["dst"] = get(name + ".src"), get(name + ".dst")
            elif name == "udp":
                f["sport"], f["dport"] = int(get("udp.srcport")), int(get("udp.dstport"))
            elif name == "sip":
                f["callid"] = get("sip.Call-ID")
            elif name == "sdp":
                addrs = [v for n, v in fields if n == "sdp.connection_info.address"]
                ports = [int(v) for n, v in fields if n == "sdp.media.port"]
                f["sdp"] = [(a, p + k) for a in addrs for p in ports for k in (0, 1)]
            elif name == "rtp" and get("rtp.ssrc"):
                f["rtp"] = (int(get("rtp.ssrc"), 16), get("rtp.setup-frame"))
            elif name == "rtcp":
                f["setup"] = get("rtcp.setup-frame")
                f["parts"].append(fields)
        frames.append(f)
    return frames


def announcements(frames, calls):
    """(address, port) -> Call-IDs whose SDP named it (port and port + 1)."""
    out = {}
    for f in frames:
        for end in f["sdp"]:
            out.setdefault(end, set()).add(calls.get(f["number"], f["callid"]))
    return out


def owner(ann, f, setup, calls):
    """The call a packet belongs to: the one call that announced both of its
    ends, else the one tshark's SDP tracking set it up from."""
    both = ann.get((f["src"], f["sport"]), set()) & ann.get((f["dst"], f["dport"]), set())
    if len(both) == 1:
        return next(iter(both))
    return calls.get(int(setup)) if setup else None


def stream_calls(frames, calls):
    """(src, sport, dst, dport, ssrc) -> the Call-ID of the stream."""
    ann, out = announcements(frames, calls), {}
    for f in frames:
        if f["rtp"] and f["rtp"][1]:
            key = (f["src"], f["sport"], f["dst"], f["dport"], f["rtp"][0])
            out.setdefault(key, owner(ann, f, f["rtp"][1], calls))
    return out


# ---- RTCP as tshark decodes it --------------------------------------------

def num(v):
    return int(v, 16) if v.startswith("0x") else int(v)


def blocks_of(fields):
    """The report blocks of one SR or RR: one dict per rtcp.ssrc.identifier."""
    out, cur = [], None
    names = {"rtcp.ssrc.identifier": "source_ssrc", "rtcp.ssrc.fraction": "fraction_lost",
             "rtcp.ssrc.cum_nr": "packets_lost", "rtcp.ssrc.ext_high": "highest_seq_no",
             "rtcp.ssrc.jitter": "ia_jitter", "rtcp.ssrc.lsr": "lsr", "rtcp.ssrc.dlsr": "dlsr"}
    for name, value in fields:
        if name == "rtcp.ssrc.identifier":
            cur = {}
            out.append(cur)
        if cur is not None and name in names:
            cur[names[name]] = num(value)
    return out


def voip_of(fields):
    """The first XR VoIP metrics block of an XR packet, in our JSON's names."""
    names = {"rtcp.ssrc.identifier": "id", "rtcp.ssrc.fraction": "fraction_lost",
             "rtcp.ssrc.discarded": "fraction_discard",
             "rtcp.xr.voipmetrics.burstdensity": "burst_density",
             "rtcp.xr.voipmetrics.gapdensity": "gap_density",
             "rtcp.xr.voipmetrics.burstduration": "burst_duration",
             "rtcp.xr.voipmetrics.gapduration": "gap_duration",
             "rtcp.xr.voipmetrics.rtdelay": "round_trip_delay",
             "rtcp.xr.voipmetrics.esdelay": "end_system_delay",
             "rtcp.xr.voipmetrics.signallevel": "signal_level",
             "rtcp.xr.voipmetrics.noiselevel": "noise_level",
             "rtcp.xr.voipmetrics.rerl": "rerl", "rtcp.xr.voipmetrics.gmin": "gmin",
             "rtcp.xr.voipmetrics.rfactor": "r_factor",
             "rtcp.xr.voipmetrics.extrfactor": "ext_r_factor",
             "rtcp.xr.voipmetrics.moslq": "mos_lq", "rtcp.xr.voipmetrics.moscq": "mos_cq",
             "rtcp.xr.voipmetrics.jbnominal": "jb_nominal",
             "rtcp.xr.voipmetrics.jbmax": "jb_maximum",
             "rtcp.xr.voipmetrics.jbabsmax": "jb_abs_max"}
    cur = None
    rx = {}
    for name, value in fields:
        if name == "rtcp.xr.bt":
            if cur is not None:
                break
            if value == "7":
                cur = {"type": 7}
            continue
        if cur is None:
            continue
        if name in names:
            cur[names[name]] = float(value) if "." in value else num(value)
        elif name in ("rtcp.xr.voipmetrics.plc", "rtcp.xr.voipmetrics.jba",
                      "rtcp.xr.voipmetrics.jbrate"):
            rx[name.rsplit(".", 1)[1]] = int(value)
    if cur is not None and rx:
        cur["rx_config"] = rx.get("plc", 0) << 6 | rx.get("jba", 0) << 4 | rx.get("jbrate", 0)
    return cur


def expected_json(frame):
    """What hepagent must send for this compound (None: nothing), from
    tshark's decode, by the rules README gives."""
    head = sr = None
    blocks, voip, sdes = [], None, None
    for fields in frame["parts"]:
        get = dict(fields).get
        pt = int(get("rtcp.pt"))
        if pt in (200, 201):
            if head is None:
                head = (int(get("rtcp.senderssrc"), 16), pt)
                if pt == 200:
                    sr = {"ntp_timestamp_sec": int(get("rtcp.timestamp.ntp.msw")),
                          "ntp_timestamp_usec": int(get("rtcp.timestamp.ntp.lsw")),
                          "rtp_timestamp": int(get("rtcp.timestamp.rtp")),
                          "packets": int(get("rtcp.sender.packetcount")),
                          "octets": int(get("rtcp.sender.octetcount"))}
            blocks += blocks_of(fields)
        elif pt == 207 and voip is None:
            voip = voip_of(fields)
            if voip is not None and head is None:
                xr_head = (int(get("rtcp.senderssrc"), 16), 207)
        elif pt == 202 and sdes is None and int(get("rtcp.sc") or 0) > 0:
            sdes = num(get("rtcp.ssrc.identifier"))
    if head is None and voip is None:
        return None
    if head is None:
        head = xr_head
    out = {}
    if sr:
        out["sender_information"] = sr
    out.update({"ssrc": head[0], "type": head[1], "report_count": len(blocks),
                "report_blocks": blocks})
    if voip is not None:
        out["report_blocks_xr"] = voip
    if sdes is not None:
        out["sdes_ssrc"] = sdes
    return out


def same_json(want, got, path=""):
    """Differences between two JSON values (floats compared to 1e-9)."""
    if isinstance(want, dict) and isinstance(got, dict):
        diffs = ["%s%s: missing" % (path, k) for k in want if k not in got]
        diffs += ["%s%s: not in tshark's decode" % (path, k) for k in got if k not in want]
        for k in want:
            if k in got:
                diffs += same_json(want[k], got[k], path + k + ".")
        return diffs
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return ["%s: %d entries, want %d" % (path.rstrip("."), len(got), len(want))]
        diffs = []
        for i, (a, b) in enumerate(zip(want, got)):
            diffs += same_json(a, b, "%s%d." % (path, i))
        return diffs
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return [] if abs(want - got) < 1e-9 else ["%s: %r, want %r" % (path.rstrip("."), got,
                                                                       want)]
    return [] if want == got else ["%s: %r, want %r" % (path.rstrip("."), got, want)]


def check(packets, stats, capture, want_stats, reason=None):
    errors = []
    pdml, ws = tshark(capture)
    frames = frames_of(pdml)
    calls = {f["number"]: f["callid"] for f in frames if f["callid"]}
    by_type = {}
    for p in packets:
        by_type.setdefault(p["ptype"], []).append(p)

    # SIP is still what it was
    if len(by_type.get(1, [])) != len(calls):
        errors.append("%d SIP packets sent, tshark finds %d SIP frames" %
                      (len(by_type.get(1, [])), len(calls)))
    # the correlation id the SIP of each call left with (a redacting rule may
    # replace the Call-ID): the media must carry the same
    sent_corr = {(p["sec"], p["usec"]): p["corr"] for p in by_type.get(1, [])}
    for f in frames:
        if f["callid"]:
            sec, _, frac = f["time"].partition(".")
            corr = sent_corr.get((int(sec), int((frac + "000000")[:6])))
            if corr and corr != f["callid"]:
                calls[f["number"]] = corr

    # QoS reports against tshark's stream table
    owners = stream_calls(frames, calls)
    finals = {}
    for p in by_type.get(0x22, []):
        r = json.loads(bytes.fromhex(p["payload"]))
        key = (p["src"], p["sport"], p["dst"], p["dport"], r["ssrc"])
        if (r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"]) != key[:4]:
            errors.append("QoS report: HEP addresses %s differ from its JSON's" % (key[:4],))
        if not r["final"]:
            continue
        if reason and r["reason"] != reason:
            errors.append("final report for %s:%d -> %s:%d ssrc 0x%08X made for %s, want %s" %
                          (key + (r["reason"], reason)))
        if key in finals:
            errors.append("two final reports for %s:%d -> %s:%d ssrc 0x%08X" % key)
        finals[key] = (r, p["corr"])
    for key in sorted(set(ws) | set(finals), key=str):
        name = "%s:%d -> %s:%d ssrc 0x%08X" % key
        if key not in finals:
            errors.append("%s: tshark lists it, no final QoS report" % name)
            continue
        if key not in ws:
            errors.append("%s: a QoS report, tshark lists no such stream" % name)
            continue
        w, (o, corr) = ws[key], finals[key]
        for field in ("packets", "lost"):
            if w[field] != o[field]:
                errors.append("%s: %s tshark %d, ours %d" % (name, field, w[field], o[field]))
        for field in ("delta_max_ms", "jitter_mean_ms", "jitter_max_ms"):
            if not close(w[field], o[field]):
                errors.append("%s: %s tshark %.3f, ours %.3f" % (name, field, w[field], o[field]))
        if owners.get(key) != corr:
            errors.append("%s: correlation id %r, the SDP says %r" % (name, corr, owners.get(key)))

    # RTCP against tshark's decode
    sent = {}
    for p in by_type.get(5, []):
        key = (p["src"], p["sport"], p["dst"], p["dport"], p["sec"], p["usec"])
        sent.setdefault(key, []).append(p)
    decoded = skipped = 0
    ann = announcements(frames, calls)
    for f in (f for f in frames if f["parts"]):
        sec, _, frac = f["time"].partition(".")
        key = (f["src"], f["sport"], f["dst"], f["dport"], int(sec), int((frac + "000000")[:6]))
        name = "RTCP %s:%d -> %s:%d at %s" % (key[:4] + (f["time"],))
        want = expected_json(f)
        got = sent.pop(key, [])
        if want is None:
            skipped += 1
            if got:
                errors.append("%s: sent, but holds no SR, RR or XR VoIP metrics" % name)
            continue
        decoded += 1
        if len(got) != 1:
            errors.append("%s: %d HEP type 5 packets, want 1" % (name, len(got)))
            continue
        diffs = same_json(want, json.loads(bytes.fromhex(got[0]["payload"])))
        if diffs:
            errors.append("%s: JSON differs from tshark's decode: %s" % (name, "; ".join(diffs)))
        want_call = owner(ann, f, f.get("setup"), calls)
        if got[0]["corr"] != want_call:
            errors.append("%s: correlation id %r, the SDP says %r" %
                          (name, got[0]["corr"], want_call))
    for key, extra in sent.items():
        errors.append("HEP type 5 for %s:%d -> %s:%d at %d.%06d: tshark decodes no RTCP there" %
                      key)
    for name, value in want_stats:
        if stats.get(name) != value:
            errors.append("counter %s is %s, want %s" % (name, stats.get(name), value))
    return errors, len(ws), decoded, skipped


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    build, capture = args[0], args[1]
    config, want_stats, sink, reason, ident = DEFAULT_CONFIG, [], None, None, None
    rest = args[2:]
    while rest:
        opt = rest.pop(0)
        if opt == "--config":
            config = rest.pop(0)
            if not os.path.isabs(config):
                config = os.path.join(HERE, config)
        elif opt == "--stat":
            name, _, value = rest.pop(0).partition("=")
            want_stats.append((name, value))
        elif opt == "--sink":
            sink = rest.pop(0)
        elif opt == "--reason":
            reason = rest.pop(0)
        elif opt == "--ident":
            capid, _, node = rest.pop(0).partition(":")
            ident = (int(capid), node)
        else:
            sys.exit("unknown option " + opt)
    if sink:
        packets, stats = [json.loads(line) for line in open(sink)], {}
    else:
        with tempfile.TemporaryDirectory() as work:
            packets, stats = run_agent(build, capture, ["-c", config], work)
    errors, streams, decoded, skipped = check(packets, stats, capture, want_stats, reason)
    if ident:
        kinds = {}
        for p in packets:
            if (p.get("capid"), p.get("node")) != ident:
                kinds[p["ptype"]] = (p.get("capid"), p.get("node"))
        errors += ["HEP type %d sent with capture id/node %s, not %s" % (t, got, ident)
                   for t, got in sorted(kinds.items())]
        if not {1, 5, 0x22} <= {p["ptype"] for p in packets}:
            errors.append("--ident wants SIP, RTCP and QoS packets to look at")
    if errors:
        print("FAIL %s:\n  %s" % (capture, "\n  ".join(errors)))
        return 1
    print("ok %s: %d RTP streams reported as tshark measures them, %d RTCP packets sent as "
          "tshark decodes them, %d without a report left out" % (capture, streams, decoded,
                                                                  skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
