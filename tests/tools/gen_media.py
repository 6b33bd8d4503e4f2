#!/usr/bin/env python3
"""Writes tests/pcap/media/: calls with SIP (INVITE/200/ACK/BYE carrying real
SDP) and RTP both ways, built packet by packet to hold what passive quality
measurement and RTCP correlation must get right -- loss (single and bursts),
jitter, duplicates, reordering, sequence and timestamp wraps, SSRC changes and
restarts, timestamp jumps, IPv6, rtcp-mux, a=rtcp ports, a re-INVITE that moves
a port, hold, NAT, video, several codecs, DTMF -- plus RTCP SR/RR/SDES/BYE/APP
and XR VoIP-metrics packets on the RTCP ports.

MANIFEST.md lists the captures; MANIFEST.tsv gives, per capture, the -m flags
qos_replay needs for its dynamic payload types (what the SDP says), which
tests/pcap/media/check_qos.py uses when it compares qos_replay with tshark.

Python standard library only; deterministic (no randomness, fixed clock): the
output is the same bytes on every run (ctest pcap_media_reproducible).

usage: gen_media.py [--out DIR]      write the captures (default tests/pcap/media)
       gen_media.py --check DIR      compare a fresh generation with DIR
       gen_media.py --bench FILE CALLS SECONDS
                                     write a load capture: CALLS concurrent calls
                                     with G.711 RTP both ways for SECONDS (50
                                     packets/s per direction), not committed
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_captures as g  # noqa: E402  (the pcap writer, IP/UDP builders and SIP calls)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "pcap", "media")

ALICE, BOB = g.ALICE4, g.BOB4
ALICE6, BOB6 = g.ALICE6, g.BOB6
NTP_OFFSET = 2208988800  # seconds from 1900 to 1970


def det(label, mod):
    """A deterministic number below mod, named by label."""
    return int.from_bytes(g.prand(label, 8), "big") % mod


# ---- SDP -------------------------------------------------------------------

def sdp(addr, sess, media, conn=None):
    """media: list of (kind, port, [(pt, name/rate)], [extra a= lines]).
    conn: the session c= address (default addr)."""
    kind = "IP6" if g.is6(addr) else "IP4"
    c = conn or addr
    lines = ["v=0", "o=- %d %d IN %s %s" % (sess, sess, kind, addr), "s=-",
             "c=IN %s %s" % ("IP6" if g.is6(c) else "IP4", c), "t=0 0"]
    for mkind, port, fmts, extra in media:
        lines.append("m=%s %d RTP/AVP %s" % (mkind, port, " ".join(str(p) for p, _ in fmts)))
        for pt, name in fmts:
            lines.append("a=rtpmap:%d %s" % (pt, name))
            if name.startswith("telephone-event"):
                lines.append("a=fmtp:%d 0-16" % pt)
        lines += list(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


AUDIO = [(0, "PCMU/8000"), (8, "PCMA/8000"), (101, "telephone-event/8000")]


class Dialog(g.Call):
    """A SIP dialog whose later requests (re-INVITE, BYE) carry the to-tag."""

    def request(self, method, body=b"", ctype="application/sdp", uri=None, extra=()):
        out = super().request(method, body, ctype, uri, extra)
        if method == "INVITE" and getattr(self, "established", False):
            out = out.replace(b"<sip:bob@example.com>\r\n",
                              b"<sip:bob@example.com>;tag=" + self.to_tag.encode() + b"\r\n", 1)
        return out

    def from_callee(self, msg):
        """A request the callee sends in the dialog (or the caller's response
        to it): the callee's tag in From, the caller's in To, the request
        addressed to the caller."""
        head, sep, body = msg.partition(b"\r\n\r\n")
        lines = []
        for line in head.split(b"\r\n"):
            if line.startswith(b"From:"):
                line = b"From: <sip:bob@example.com>;tag=" + self.to_tag.encode()
            elif line.startswith(b"To:"):
                line = b'To: "Alice" <sip:alice@example.com>;tag=' + self.from_tag.encode()
            elif line.startswith(b"INVITE sip:bob@") or line.startswith(b"ACK sip:bob@"):
                line = line.replace(b" sip:bob@", b" sip:alice@", 1)
            lines.append(line)
        return b"\r\n".join(lines) + sep + body


# ---- the capture -----------------------------------------------------------

class Media:
    """Frames of one capture, kept with their time and written sorted."""

    def __init__(self, name, doc, pt_map=()):
        self.name, self.doc = name, doc
        self.pt_map = list(pt_map)  # qos_replay -m flags: "111=opus/48000"
        self.frames = []  # (time us, order, frame)
        self.ident = 0x2000
        self.wrap = g.eth_wrap()

    def udp(self, t_us, src, sport, dst, dport, payload):
        self.ident = (self.ident + 1) & 0xFFFF
        pkt = g.ip(src, dst, g.P_UDP, g.udp(src, dst, sport, dport, payload), self.ident)
        self.frames.append((t_us, len(self.frames), self.wrap(pkt, True)))

    def sip(self, t_us, call, frm, to, payload):
        self.udp(t_us, frm[0], frm[1], to[0], to[1], payload)

    def pcap(self):
        cap = g.Capture(self.name, self.doc)
        cap.records = [(t, 0, f) for t, _, f in sorted(self.frames)]
        return g.pcap_bytes(cap)


def rtp_packet(seq, ts, ssrc, pt, marker=False, payload=b"", pad=0, csrc=(), ext=None):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrc)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                      ts & 0xFFFFFFFF, ssrc)
    for c in csrc:
        out += struct.pack("!I", c)
    if ext is not None:
        profile, words = ext
        out += struct.pack("!HH", profile, len(words)) + b"".join(
            struct.pack("!I", w) for w in words)
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


class Stream:
    """One RTP stream's packets as a plan: a list of dicts (seq, ts, t_us,
    pt, marker, payload) that the cases edit before sending."""

    def __init__(self, label, src, dst, start_us, count, pt=0, ptime_ms=20, ts_step=None,
                 payload_len=32, seq0=None, ts0=None, ssrc=None):
        self.label = label
        self.src, self.dst = src, dst  # (address, port)
        self.ssrc = ssrc if ssrc is not None else det(label + "ssrc", 1 << 32)
        seq0 = seq0 if seq0 is not None else det(label + "seq", 30000) + 1000
        ts0 = ts0 if ts0 is not None else det(label + "ts", 1 << 30) + (1 << 20)
        ts_step = ts_step if ts_step is not None else ptime_ms * 8
        self.plan = []
        for i in range(count):
            # a little network wobble: up to +-0.4 ms, never reordering
            wobble = det("%s/w%d" % (label, i), 801) - 400
            self.plan.append({"seq": seq0 + i, "ts": ts0 + i * ts_step,
                              "t": start_us + i * ptime_ms * 1000 + wobble, "pt": pt,
                              "marker": i == 0, "ssrc": self.ssrc,
                              "payload": g.prand("%s/p%d" % (label, i), payload_len)})

    def send(self, m):
        for p in self.plan:
            data = rtp_packet(p["seq"], p["ts"], p["ssrc"], p["pt"], p["marker"], p["payload"],
                              p.get("pad", 0), p.get("csrc", ()), p.get("ext"))
            src, dst = p.get("src", self.src), p.get("dst", self.dst)
            m.udp(p["t"], src[0], src[1], dst[0], dst[1], data)

    def end_us(self):
        return max(p["t"] for p in self.plan)


# ---- RTCP (RFC 3550 §6, RFC 3611 §4.7) -------------------------------------

def rtcp_header(count, ptype, body):
    assert len(body) % 4 == 0
    return struct.pack("!BBH", 0x80 | count, ptype, len(body) // 4) + body


def ntp(t_us):
    sec = t_us // 1000000 + NTP_OFFSET
    frac = ((t_us % 1000000) << 32) // 1000000
    return sec, frac


def report_block(ssrc, fraction, lost, highest, jitter, lsr, dlsr):
    return struct.pack("!IB", ssrc, fraction) + (lost & 0xFFFFFF).to_bytes(3, "big") + \
        struct.pack("!IIII", highest, jitter, lsr, dlsr)


def rtcp_sr(ssrc, t_us, rtp_ts, packets, octets, blocks=()):
    sec, frac = ntp(t_us)
    body = struct.pack("!IIIIII", ssrc, sec, frac, rtp_ts, packets, octets) + b"".join(blocks)
    return rtcp_header(len(blocks), 200, body)


def rtcp_rr(ssrc, blocks=()):
    return rtcp_header(len(blocks), 201, struct.pack("!I", ssrc) + b"".join(blocks))


def rtcp_sdes(ssrc, cname):
    item = bytes([1, len(cname)]) + cname.encode()
    chunk = struct.pack("!I", ssrc) + item + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return rtcp_header(1, 202, chunk)


def rtcp_bye(ssrc, reason=""):
    body = struct.pack("!I", ssrc)
    if reason:
        body += bytes([len(reason)]) + reason.encode()
        body += b"\0" * (-len(body) % 4)
    return rtcp_header(1, 203, body)


def rtcp_app(ssrc, name=b"hepa", data=b"\0\0\0\1"):
    return rtcp_header(0, 204, struct.pack("!I", ssrc) + name + data)


def rtcp_xr_voip(ssrc, source, loss_rate, discard_rate, rtd, esd, r_factor, mos_lq, mos_cq):
    """RFC 3611 §4.7: a VoIP metrics report block (type 7, 8 words)."""
    block = struct.pack("!BBH", 7, 0, 8) + struct.pack("!I", source)
    block += bytes([loss_rate, discard_rate, 12, 2]) + struct.pack("!HH", 40, 900)
    block += struct.pack("!HH", rtd, esd)
    block += struct.pack("!bbBB", -20, -70, 127, 16)  # signal, noise, RERL, Gmin
    block += bytes([r_factor, 127, mos_lq, mos_cq])
    block += struct.pack("!BBHHH", 0x80, 0, 40, 80, 120)  # RX config, JB nominal/max/abs max
    assert len(block) == 36
    return rtcp_header(0, 207, struct.pack("!I", ssrc) + block)


def rtcp_reports(m, stream, peer, rtcp_src, rtcp_dst, every_ms=500, cname="alice@example.com",
                 bye=True, xr=False, app=False):
    """Compound RTCP packets from stream's sender every every_ms: SR+SDES while
    it sends, about the peer stream it receives (a report block); RR+SDES+BYE
    at the end."""
    plan = stream.plan
    if not plan:
        return
    start, end = plan[0]["t"], stream.end_us()
    t = start + every_ms * 1000
    sent = 0
    while t < end:
        sent_pkts = [p for p in plan if p["t"] <= t]
        octets = sum(len(p["payload"]) for p in sent_pkts)
        got = [p for p in peer.plan if p["t"] <= t] if peer else []
        blocks = []
        if got:
            highest = max(p["seq"] for p in got) & 0xFFFFFFFF
            expected = highest - min(p["seq"] for p in got) + 1
            lost = max(0, expected - len(got))
            blocks.append(report_block(peer.ssrc, min(255, lost * 256 // max(1, expected)),
                                       lost, highest, det("%dj" % t, 80), 0, 0))
        last = sent_pkts[-1]
        pkt = rtcp_sr(stream.ssrc, t, last["ts"], len(sent_pkts), octets, blocks)
        pkt += rtcp_sdes(stream.ssrc, cname)
        if xr and got:
            pkt = rtcp_rr(stream.ssrc, blocks) + rtcp_sdes(stream.ssrc, cname) + \
                rtcp_xr_voip(stream.ssrc, peer.ssrc, 3, 1, 40, 60, 88, 41, 42)
        if app and sent % 2 == 1:
            pkt += rtcp_app(stream.ssrc)
        m.udp(t + 137, rtcp_src[0], rtcp_src[1], rtcp_dst[0], rtcp_dst[1], pkt)
        sent += 1
        t += every_ms * 1000
    if bye:
        m.udp(end + 500, rtcp_src[0], rtcp_src[1], rtcp_dst[0], rtcp_dst[1],
              rtcp_rr(stream.ssrc) + rtcp_sdes(stream.ssrc, cname) + rtcp_bye(stream.ssrc, "bye"))


# ---- calls -----------------------------------------------------------------

START = g.BASE_US


def call_setup(m, call, t, offer, answer):
    """INVITE (offer), 100, 200 (answer), ACK from time t; returns the time
    media may start."""
    a, b = call.caller, call.callee
    m.sip(t, call, a, b, call.request("INVITE", offer))
    m.sip(t + 3000, call, b, a, call.response("INVITE", 100, "Trying"))
    m.sip(t + 40000, call, b, a, call.response("INVITE", 200, "OK", answer))
    m.sip(t + 42000, call, a, b, call.request("ACK"))
    call.established = True
    return t + 50000


def call_teardown(m, call, t):
    a, b = call.caller, call.callee
    m.sip(t, call, a, b, call.request("BYE"))
    m.sip(t + 2000, call, b, a, call.response("BYE", 200, "OK", b""))


def basic_call(name, doc, a_media, b_media, streams_fn, caller=(ALICE, 5060),
               callee=(BOB, 5060), pt_map=(), sdp_a=None, sdp_b=None):
    """A call whose SDP offers a_media and answers b_media; streams_fn(m, t0)
    adds the media and returns the time it ends."""
    m = Media(name, doc, pt_map)
    call = Dialog(name, "UDP", caller, callee)
    t0 = call_setup(m, call, START, sdp(sdp_a or caller[0], 1000 + len(name), a_media),
                    sdp(sdp_b or callee[0], 2000 + len(name), b_media))
    end = streams_fn(m, call, t0)
    call_teardown(m, call, end + 60000)
    return m


def two_way(m, t0, a, b, n, label, pt=0, **kw):
    """RTP both ways between a and b ((address, port) each)."""
    sa = Stream(label + "a", a, b, t0, n, pt, **kw)
    sb = Stream(label + "b", b, a, t0 + 7000, n, pt, **kw)
    return sa, sb


def rtcp_pair(addr_port):
    return (addr_port[0], addr_port[1] + 1)


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


A_RTP, B_RTP = (ALICE, 49170), (BOB, 3456)


def audio(port, fmts=AUDIO, extra=("a=ptime:20", "a=sendrecv")):
    return [("audio", port, fmts, list(extra))]


@case
def clean():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 75, "clean")
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sa, sb, rtcp_pair(A_RTP), rtcp_pair(B_RTP))
        rtcp_reports(m, sb, sa, rtcp_pair(B_RTP), rtcp_pair(A_RTP), cname="bob@example.com")
        return max(sa.end_us(), sb.end_us())
    return basic_call("clean", "G.711 u-law both ways, 1.5 s, sub-millisecond wobble, no loss; "
                      "RTCP SR+SDES every 500 ms on port+1 each way, RR+SDES+BYE at the end.",
                      audio(49170), audio(3456), media)


@case
def loss_single():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 100, "loss1", pt=8)
        for i in (9, 30, 31 + 20, 77):
            sa.plan[i] = None
        sa.plan = [p for p in sa.plan if p]
        del sb.plan[50]
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sb, sa, rtcp_pair(B_RTP), rtcp_pair(A_RTP), cname="bob@example.com")
        return max(sa.end_us(), sb.end_us())
    return basic_call("loss_single", "G.711 A-law: four single packets lost one way, one the "
                      "other; RTCP SR with report blocks counting the loss.",
                      audio(49170), audio(3456), media)


@case
def loss_burst():
    fmts = [(18, "G729/8000"), (101, "telephone-event/8000")]

    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 150, "burst", pt=18, payload_len=20)
        del sa.plan[40:45]
        del sa.plan[90:102]
        del sb.plan[10:13]
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sa, sb, rtcp_pair(A_RTP), rtcp_pair(B_RTP), xr=True)
        return max(sa.end_us(), sb.end_us())
    return basic_call("loss_burst", "G.729: bursts of 5 and 12 packets lost one way, 3 the "
                      "other; RTCP RR+SDES+XR VoIP metrics (RFC 3611 block 7).",
                      audio(49170, fmts), audio(3456, fmts), media)


@case
def jitter():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 120, "jit")
        for i, p in enumerate(sa.plan):
            # arrival late by up to 18 ms, without overtaking the next packet
            p["t"] += det("jit%d" % i, 18000)
        sa.plan.sort(key=lambda p: p["t"])
        for i, p in enumerate(sb.plan):
            p["t"] += (i % 7) * 2500
        # a talk spurt after 400 ms of silence (marker), comfort noise before it
        for p in sb.plan[60:]:
            p["t"] += 400000
            p["ts"] += 3200
        sb.plan[60]["marker"] = True
        cn = dict(sb.plan[59], seq=sb.plan[59]["seq"] + 1, pt=13, payload=b"\x40",
                  t=sb.plan[59]["t"] + 20000, ts=sb.plan[59]["ts"] + 160, marker=False)
        for p in sb.plan[60:]:
            p["seq"] += 1
        sb.plan.insert(60, cn)
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("jitter", "G.711: one way arrives up to 18 ms late (order kept), the other "
                      "in a 7-packet sawtooth of 2.5 ms steps, with a comfort-noise packet, 400 ms "
                      "of silence and a talk spurt with the marker bit.",
                      audio(49170), audio(3456), media)


@case
def dup_reorder():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 100, "dup")
        for i in (20, 21, 60):
            d = dict(sa.plan[i])
            d["t"] += 300
            sa.plan.insert(i + 1, d)
        for i in (30, 70):  # swap neighbours: the later one arrives first
            sb.plan[i]["t"], sb.plan[i + 1]["t"] = sb.plan[i + 1]["t"], sb.plan[i]["t"] - 100
        sb.plan[50]["t"] += 65000  # three packets late
        sb.plan.sort(key=lambda p: p["t"])
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("dup_reorder", "G.711: three duplicated packets one way; two swapped "
                      "neighbours and one packet arriving three packets late the other way.",
                      audio(49170), audio(3456), media)


@case
def seq_wrap():
    def media(m, call, t0):
        sa = Stream("wrapa", A_RTP, B_RTP, t0, 120, seq0=65480, ts0=(1 << 32) - 8000)
        sb = Stream("wrapb", B_RTP, A_RTP, t0 + 7000, 120, seq0=65530, ts0=4000)
        del sa.plan[70]  # a loss just after the wrap
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("seq_wrap", "G.711: sequence numbers wrap past 65535 both ways (one "
                      "with a loss after the wrap), and one way's timestamp wraps past 2^32.",
                      audio(49170), audio(3456), media)


@case
def ssrc_change():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 100, "ssrc")
        new = Stream("ssrc-new", A_RTP, B_RTP, sa.plan[50]["t"], 50, seq0=7, ts0=12345)
        sa.plan = sa.plan[:50] + new.plan
        # the other way restarts its sequence with the same SSRC
        for p in sb.plan[60:]:
            p["seq"] += 20000
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("ssrc_change", "G.711: one way changes SSRC (and sequence, timestamp) "
                      "halfway; the other jumps its sequence number by 20000 with the same "
                      "SSRC (a restart RFC 3550 A.1 resynchronises on).",
                      audio(49170), audio(3456), media)


@case
def ts_jump():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 100, "tsj")
        for p in sa.plan[40:]:
            p["ts"] += 8000  # timestamp one second ahead, arrival unchanged
        for p in sb.plan[50:]:
            p["ts"] -= 4000  # half a second back
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("ts_jump", "G.711: one way's timestamp jumps a second ahead, the other's "
                      "half a second back, arrival times steady.",
                      audio(49170), audio(3456), media)


@case
def ipv6():
    fmts = [(9, "G722/8000"), (101, "telephone-event/8000")]
    a, b = (ALICE6, 49170), (BOB6, 3456)

    def media(m, call, t0):
        sa, sb = two_way(m, t0, a, b, 80, "v6", pt=9)
        del sa.plan[33]
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sa, sb, rtcp_pair(a), rtcp_pair(b))
        return max(sa.end_us(), sb.end_us())
    return basic_call("ipv6", "IPv6 call with G.722 (RTP clock 8000), one loss; RTCP on port+1.",
                      audio(49170, fmts), audio(3456, fmts), media, caller=(ALICE6, 5060),
                      callee=(BOB6, 5060))


@case
def rtcp_mux():
    fmts = [(111, "opus/48000/2"), (101, "telephone-event/8000")]
    extra = ["a=rtcp-mux", "a=ptime:20", "a=sendrecv"]

    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 90, "mux", pt=111, ts_step=960, payload_len=40)
        for i, p in enumerate(sb.plan):
            p["t"] += (i % 5) * 1500
        del sb.plan[44]
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sa, sb, A_RTP, B_RTP)
        rtcp_reports(m, sb, sa, B_RTP, A_RTP, cname="bob@example.com", app=True)
        return max(sa.end_us(), sb.end_us())
    return basic_call("rtcp_mux", "Opus (dynamic 111, 48 kHz clock) with a=rtcp-mux: RTCP "
                      "SR/SDES/APP/BYE on the RTP ports; one loss and jitter one way.",
                      [("audio", 49170, fmts, extra)], [("audio", 3456, fmts, extra)], media,
                      pt_map=["111=opus/48000"])


@case
def rtcp_attr():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 75, "rattr", pt=8)
        sa.send(m)
        sb.send(m)
        rtcp_reports(m, sa, sb, (ALICE, 50001), (BOB, 4001), xr=True)
        rtcp_reports(m, sb, sa, (BOB, 4001), (ALICE, 50001), cname="bob@example.com", app=True)
        return max(sa.end_us(), sb.end_us())
    return basic_call("rtcp_attr", "G.711 A-law with RTCP on ports given by a=rtcp: (50001 and "
                      "4001, not port+1); XR VoIP metrics one way, APP the other.",
                      audio(49170, extra=("a=rtcp:50001", "a=sendrecv")),
                      audio(3456, extra=("a=rtcp:4001 IN IP4 %s" % BOB, "a=sendrecv")), media)


@case
def reinvite_move():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 120, "move")
        # at 1 s the callee re-INVITEs with a new port and moves both ways
        t_move = sa.plan[50]["t"] - 5000
        moved = (BOB, 3500)
        m.sip(t_move, call, call.callee, call.caller,
              call.from_callee(call.request("INVITE", sdp(BOB, 2100, audio(3500)))))
        m.sip(t_move + 20000, call, call.caller, call.callee,
              call.from_callee(call.response("INVITE", 200, "OK", sdp(ALICE, 1100, audio(49170)))))
        m.sip(t_move + 21000, call, call.callee, call.caller,
              call.from_callee(call.request("ACK")))
        for p in sa.plan[52:]:
            p["dst"] = moved
        for p in sb.plan[52:]:
            p["src"] = moved
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("reinvite_move", "G.711: a re-INVITE moves the callee's media port from "
                      "3456 to 3500 mid-call; RTP follows it both ways (same SSRCs, new flows).",
                      audio(49170), audio(3456), media)


@case
def reinvite_rejected():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 120, "rejected")
        # at 1 s the callee re-INVITEs with a new port; the caller refuses it
        # (488), so the media stay where they were
        t_offer = sa.plan[50]["t"] - 5000
        m.sip(t_offer, call, call.callee, call.caller,
              call.from_callee(call.request("INVITE", sdp(BOB, 2100, audio(3500)))))
        m.sip(t_offer + 20000, call, call.caller, call.callee,
              call.from_callee(call.response("INVITE", 488, "Not Acceptable Here")))
        m.sip(t_offer + 21000, call, call.callee, call.caller,
              call.from_callee(call.request("ACK")))
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("reinvite_rejected", "G.711: the callee's re-INVITE offers port 3500 "
                      "mid-call and the caller refuses it (488): RTP stays on 3456 both ways, "
                      "one stream per direction.", audio(49170), audio(3456), media)


@case
def hold():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 150, "hold")
        t_hold = sa.plan[50]["t"] - 5000
        m.sip(t_hold, call, call.caller, call.callee,
              call.request("INVITE", sdp(ALICE, 1200, audio(49170, extra=("a=sendonly",)))))
        m.sip(t_hold + 20000, call, call.callee, call.caller,
              call.response("INVITE", 200, "OK", sdp(BOB, 2200, audio(3456, extra=("a=recvonly",)))))
        m.sip(t_hold + 21000, call, call.caller, call.callee, call.request("ACK"))
        t_resume = sa.plan[100]["t"] - 5000
        m.sip(t_resume, call, call.caller, call.callee,
              call.request("INVITE", sdp(ALICE, 1300, audio(49170), conn="0.0.0.0")))
        m.sip(t_resume + 20000, call, call.callee, call.caller,
              call.response("INVITE", 200, "OK", sdp(BOB, 2300, audio(3456))))
        m.sip(t_resume + 21000, call, call.caller, call.callee, call.request("ACK"))
        # on hold the callee stops sending; the caller's stream goes on
        sb.plan = [p for i, p in enumerate(sb.plan) if not 52 <= i < 98]
        for p in sb.plan[52:]:
            p["seq"] -= 46  # a sender on hold sends nothing and numbers nothing
        sb.plan[52]["marker"] = True
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("hold", "G.711: re-INVITE a=sendonly puts the call on hold (the callee "
                      "stops sending for ~1 s), a second one with c=0.0.0.0 then a plain answer "
                      "resumes; the held stream's gap has no loss (sequence continues).",
                      audio(49170), audio(3456), media)


@case
def nat():
    private = ("10.0.0.5", 49170)
    public = ("203.0.113.50", 61234)

    def media(m, call, t0):
        sa = Stream("nata", public, B_RTP, t0, 80)
        sb = Stream("natb", B_RTP, public, t0 + 7000, 80)
        del sa.plan[20]
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("nat", "NAT: the caller's SDP announces 10.0.0.5:49170 but its RTP comes "
                      "from 203.0.113.50:61234 (the callee answers there, symmetric RTP).",
                      audio(49170), audio(3456), media, caller=("203.0.113.50", 5060),
                      sdp_a=private[0])


@case
def video():
    vfmts = [(96, "H264/90000")]

    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 75, "va")
        streams = [sa, sb]
        for who, src, dst in (("vida", (ALICE, 49172), (BOB, 3458)),
                              ("vidb", (BOB, 3458), (ALICE, 49172))):
            v = Stream(who, src, dst, t0, 0, pt=96)
            seq = det(who + "seq", 30000)
            ts = det(who + "ts", 1 << 30)
            for f in range(45):  # 30 frames/s, 1..3 packets a frame
                parts = 1 + f % 3
                for k in range(parts):
                    v.plan.append({"seq": seq, "ts": ts + f * 3000,
                                   "t": t0 + f * 33333 + k * 400, "pt": 96,
                                   "marker": k == parts - 1, "ssrc": v.ssrc,
                                   "payload": g.prand("%s%d/%d" % (who, f, k), 100)})
                    seq += 1
            if who == "vida":
                del v.plan[30]
            streams.append(v)
        for s in streams:
            s.send(m)
        return max(s.end_us() for s in streams)
    return basic_call("video", "An audio and a video m-line: H264 (dynamic 96, 90 kHz clock) "
                      "frames of 1-3 packets sharing a timestamp, marker on each frame's last; "
                      "one video packet lost.",
                      audio(49170) + [("video", 49172, vfmts, [])],
                      audio(3456) + [("video", 3458, vfmts, [])], media,
                      pt_map=["96=H264/90000"])


@case
def dtmf():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 100, "dtmf")
        # digit "5" for 5 packets (RFC 4733: one timestamp, growing duration,
        # end bit on the last, sent three times), in place of voice packets
        start_ts = sa.plan[40]["ts"]
        for k, i in enumerate(range(40, 47)):
            end = k >= 4
            dur = min(k + 1, 5) * 160
            sa.plan[i].update(pt=101, ts=start_ts, marker=k == 0,
                              payload=struct.pack("!BBH", 5, (0x80 if end else 0) | 10, dur))
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("dtmf", "G.711 with an RFC 4733 telephone-event (dynamic 101) digit in the "
                      "same SSRC: seven event packets sharing one timestamp, marker on the first, "
                      "end bit on the last three.",
                      audio(49170), audio(3456), media, pt_map=["101=telephone-event/8000"])


@case
def header_fields():
    def media(m, call, t0):
        sa, sb = two_way(m, t0, A_RTP, B_RTP, 60, "hdr")
        for i, p in enumerate(sa.plan):
            if i % 3 == 0:
                p["csrc"] = (0x11111111, 0x22222222)
            if i % 4 == 1:
                p["ext"] = (0xBEDE, [0x10AABBCC])
            if i % 5 == 2:
                p["pad"] = 4
        del sa.plan[25]
        sa.send(m)
        sb.send(m)
        return max(sa.end_us(), sb.end_us())
    return basic_call("header_fields", "G.711 whose packets carry CSRC lists, a one-byte header "
                      "extension (0xBEDE) and padding in turns; one loss.",
                      audio(49170), audio(3456), media)


# ---- the load capture for scripts/bench.sh ---------------------------------

def bench_capture(path, calls, seconds):
    """CALLS concurrent calls, RTP both ways (G.711, 20 ms), for SECONDS,
    written as it goes (millions of packets do not fit a Python list)."""
    per_dir = seconds * 50
    step = 20000 // max(1, calls)  # spread the calls over one packet time
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, g.LT_ETHERNET)
    payload = b"\xd5" * 160
    base_ip = [bytes(g.addr("10.1.0.0")), bytes(g.addr("10.2.0.0"))]
    eth = g.MAC_A + g.MAC_B + struct.pack("!H", g.ET_IPV4)
    with open(path, "wb") as f:
        f.write(hdr)
        for i in range(per_dir):
            for c in range(calls):
                for d in (0, 1):
                    t = START + i * 20000 + c * step + d * 7
                    rtp = struct.pack("!BBHII", 0x80, 0, (c * 7 + i) & 0xFFFF,
                                      (i * 160 + c * 1000) & 0xFFFFFFFF, 0x10000 * c + d + 1)
                    src = bytearray(base_ip[d])
                    dst = bytearray(base_ip[1 - d])
                    src[2:4] = struct.pack("!H", c)
                    dst[2:4] = struct.pack("!H", c)
                    udp = struct.pack("!HHHH", 20000 + 2 * (c % 20000), 30000 + 2 * (c % 15000),
                                      8 + len(rtp) + 160, 0) if d == 0 else \
                        struct.pack("!HHHH", 30000 + 2 * (c % 15000), 20000 + 2 * (c % 20000),
                                    8 + len(rtp) + 160, 0)
                    body = udp + rtp + payload
                    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 17, 0,
                                      bytes(src), bytes(dst))
                    frame = eth + iph + body
                    f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(frame),
                                        len(frame)) + frame)


# ---- output ----------------------------------------------------------------

def write_all(out):
    os.makedirs(out, exist_ok=True)
    manifest = ["# Media captures", "",
                "Written by `tests/tools/gen_media.py` (do not edit; re-run it). Calls with SIP "
                "and SDP, RTP both ways and RTCP. `check_qos.py` compares every RTP stream's "
                "QoS report (qos_replay, no SDP) with `tshark -z rtp,streams` of the same "
                "capture; `MANIFEST.tsv` gives the dynamic payload types qos_replay is told "
                "(`-m PT=codec/rate`, what the SDP says). Addresses are documentation "
                "prefixes (RFC 5737, RFC 3849).", "",
                "| capture | frames | what it holds |", "|---|---|---|"]
    tsv = []
    for fn in CASES:
        m = fn()
        data = m.pcap()
        with open(os.path.join(out, m.name + ".pcap"), "wb") as f:
            f.write(data)
        manifest.append("| `%s.pcap` | %d | %s |" % (m.name, len(m.frames), m.doc))
        tsv.append("%s.pcap\t%s" % (m.name, " ".join("-m " + x for x in m.pt_map)))
    with open(os.path.join(out, "MANIFEST.md"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    with open(os.path.join(out, "MANIFEST.tsv"), "w") as f:
        f.write("\n".join(tsv) + "\n")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--bench"] and len(args) == 4:
        bench_capture(args[1], int(args[2]), int(args[3]))
        return 0
    if args[:1] == ["--check"] and len(args) == 2:
        return g.check_generated(write_all, args[1],
                                 "media captures are not what gen_media.py makes",
                                 keep=lambda name: name.endswith(".pcap"))
    out = DEFAULT_OUT
    if args[:1] == ["--out"] and len(args) == 2:
        out = args[1]
    elif args:
        print(__doc__)
        return 2
    write_all(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
