#!/usr/bin/env python3
"""Writes tests/pcap/generated/: captures built byte by byte for what the real
captures of tests/pcap/corpus lack -- TCP segments out of order, retransmitted
and overlapping, several SIP messages per segment, IP fragments in any order,
SIP over WebSocket and SCTP, every tunnel and link type hepagent decodes.

Next to each capture NAME.pcap(ng) it writes NAME.expected.jsonl: one line per
SIP message hepagent must send, with its exact bytes, innermost addresses and
ports, IP protocol, capture time of its first byte and innermost VLAN.
check_capture.py compares hepagent's HEP output with it. MANIFEST.md lists
what each capture holds.

Python standard library only; no randomness: every "random" byte comes from
SHA-256 of a fixed label, every timestamp from a fixed clock, so the output is
the same bytes on every run (the ctest pcap_generated_reproducible checks it).

usage: gen_captures.py [--out DIR]    write the captures (default: tests/pcap/generated)
       gen_captures.py --check DIR    generate into a temporary directory and
                                      compare with DIR byte for byte (exit 1 on
                                      any difference)
"""
import base64
import filecmp
import hashlib
import ipaddress
import json
import os
import struct
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "pcap", "generated")

BASE_SEC = 1700000000  # 2023-11-14 22:13:20 UTC
BASE_US = BASE_SEC * 1000000

# link types (pcap LINKTYPE_* values)
LT_NULL, LT_ETHERNET, LT_RAW12, LT_RAW = 0, 1, 12, 101
LT_IEEE802_11, LT_LOOP, LT_SLL, LT_RADIOTAP = 105, 108, 113, 127
LT_IPV4, LT_IPV6, LT_SLL2 = 228, 229, 276

ET_IPV4, ET_IPV6, ET_VLAN, ET_QINQ = 0x0800, 0x86DD, 0x8100, 0x88A8
ET_MPLS, ET_PPPOE, ET_TEB, ET_ERSPAN2, ET_ERSPAN3 = 0x8847, 0x8864, 0x6558, 0x88BE, 0x22EB

P_IPIP, P_TCP, P_UDP, P_IPV6, P_FRAG, P_GRE, P_DSTOPTS, P_SCTP = 4, 6, 17, 41, 44, 47, 60, 132
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# documentation addresses (RFC 5737, RFC 3849)
ALICE4, BOB4, PROXY4 = "192.0.2.10", "198.51.100.20", "198.51.100.30"
ALICE6, BOB6 = "2001:db8:a::10", "2001:db8:b::20"
OUTER4_A, OUTER4_B = "203.0.113.1", "203.0.113.2"
OUTER6_A, OUTER6_B = "2001:db8:ffff::1", "2001:db8:ffff::2"
MAC_A, MAC_B = bytes.fromhex("02000000000a"), bytes.fromhex("020000000014")


def prand(label, n):
    """n deterministic pseudo-random bytes named by label."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (label, i)).encode()).digest()
        i += 1
    return out[:n]


def hexid(label, n=10):
    return prand(label, n).hex()[:n]


# ---- checksums ---------------------------------------------------------------

def inet_csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---- IP and L4 ---------------------------------------------------------------

def addr(a):
    return ipaddress.ip_address(a).packed


def is6(a):
    return ":" in a


def pseudo_header(src, dst, proto, length):
    if is6(src):
        return addr(src) + addr(dst) + struct.pack("!IxxxB", length, proto)
    return addr(src) + addr(dst) + struct.pack("!xBH", proto, length)


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    c = inet_csum(pseudo_header(src, dst, P_UDP, length) +
                  struct.pack("!HHHH", sport, dport, length, 0) + payload)
    return struct.pack("!HHHH", sport, dport, length, c or 0xFFFF) + payload


def tcp(src, dst, sport, dport, seq, ack, flags, payload, window=64240):
    seq &= 0xFFFFFFFF
    ack &= 0xFFFFFFFF
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
    c = inet_csum(pseudo_header(src, dst, P_TCP, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def sctp(sport, dport, vtag, chunks):
    body = b"".join(chunks)
    hdr = struct.pack("!HHII", sport, dport, vtag, 0)
    return hdr[:8] + struct.pack("<I", crc32c(hdr + body)) + body


def ipv4(src, dst, proto, payload, ident=0, frag=0, ttl=64, options=b""):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, frag, ttl,
                      proto, 0, addr(src), addr(dst)) + options
    return hdr[:10] + struct.pack("!H", inet_csum(hdr)) + hdr[12:] + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, hlim, addr(src),
                       addr(dst)) + payload


def ip(src, dst, proto, payload, ident=0):
    """An unfragmented IP packet of the version of src."""
    if is6(src):
        return ipv6(src, dst, proto, payload)
    return ipv4(src, dst, proto, payload, ident=ident)


def fragments(src, dst, proto, payload, ident, pieces):
    """IP fragments of one datagram: pieces is a list of (offset, length) in
    the order they are to be sent; a length of None runs to the end."""
    out = []
    for off, n in pieces:
        end = len(payload) if n is None else off + n
        assert off % 8 == 0 and end <= len(payload)
        more = end < len(payload)
        if is6(src):
            fh = struct.pack("!BBHI", proto, 0, off | more, ident)
            out.append((off, ipv6(src, dst, P_FRAG, fh + payload[off:end])))
        else:
            out.append((off, ipv4(src, dst, proto, payload[off:end], ident=ident,
                                  frag=(0x2000 if more else 0) | off // 8)))
    return out


# ---- link layers and tunnels: each maps an IP packet to a frame ---------------

def ethertype_of(pkt):
    return ET_IPV6 if pkt[0] >> 4 == 6 else ET_IPV4


def ether(payload, etype, fwd=True, tags=()):
    dst, src = (MAC_B, MAC_A) if fwd else (MAC_A, MAC_B)
    frame = dst + src
    for tpid, vid in tags:
        frame += struct.pack("!HH", tpid, vid)
    frame += struct.pack("!H", etype) + payload
    return frame + b"\0" * max(0, 60 - len(frame))  # minimum frame, as received


def eth_wrap(tags=()):
    return lambda pkt, fwd: ether(pkt, ethertype_of(pkt), fwd, tags)


def mpls_wrap(labels):
    def wrap(pkt, fwd):
        stack = b""
        for i, label in enumerate(labels):
            bottom = 1 if i == len(labels) - 1 else 0
            stack += struct.pack("!I", label << 12 | bottom << 8 | 64)
        return ether(stack + pkt, ET_MPLS, fwd)
    return wrap


def pppoe_wrap(session):
    def wrap(pkt, fwd):
        proto = 0x0057 if pkt[0] >> 4 == 6 else 0x0021
        return ether(struct.pack("!BBHHH", 0x11, 0, session, len(pkt) + 2, proto) + pkt,
                     ET_PPPOE, fwd)
    return wrap


class Outer:
    """Outer IP header for tunnels, with its own IPv4 identification counter."""

    def __init__(self, a, b):
        self.a, self.b, self.ident = a, b, 0x4000

    def packet(self, proto, payload, fwd):
        src, dst = (self.a, self.b) if fwd else (self.b, self.a)
        self.ident += 1
        return ip(src, dst, proto, payload, ident=self.ident)

    def udp(self, sport, dport, payload, fwd):
        src, dst = (self.a, self.b) if fwd else (self.b, self.a)
        return self.packet(P_UDP, udp(src, dst, sport, dport, payload), fwd)


def gre_header(proto, key=None, seq=None, checksum_of=None):
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    if checksum_of is not None:
        flags |= 0x8000
    opt = b""
    if key is not None:
        opt += struct.pack("!I", key)
    if seq is not None:
        opt += struct.pack("!I", seq)
    if checksum_of is None:
        return struct.pack("!HH", flags, proto) + opt
    c = inet_csum(struct.pack("!HHHH", flags, proto, 0, 0) + opt + checksum_of)
    return struct.pack("!HHHH", flags, proto, c, 0) + opt


def gre_wrap(outer, key=None, seq_from=None, checksum=False, teb=False):
    state = {"seq": seq_from}

    def wrap(pkt, fwd):
        inner = ether(pkt, ethertype_of(pkt), fwd) if teb else pkt
        proto = ET_TEB if teb else ethertype_of(pkt)
        seq = state["seq"]
        if seq is not None:
            state["seq"] += 1
        g = gre_header(proto, key, seq, inner if checksum else None) + inner
        o = outer.packet(P_GRE, g, fwd)
        return ether(o, ethertype_of(o), fwd)
    return wrap


def erspan_wrap(outer, kind, session=7, inner_tags=()):
    state = {"seq": 1, "index": 100}

    def wrap(pkt, fwd):
        mirrored = ether(pkt, ethertype_of(pkt), fwd, inner_tags)
        if kind == 1:
            g = gre_header(ET_ERSPAN2) + mirrored
        elif kind == 2:
            hdr = struct.pack("!HHI", 1 << 12 | 0, session, state["index"])
            g = gre_header(ET_ERSPAN2, seq=state["seq"]) + hdr + mirrored
        else:
            # ver 2, VLAN 0, session; timestamp; SGT; P=0 FT=0 (Ethernet)
            # HW id 0, D=0, Gra=2 (IEEE 1588), O=1: platform subheader follows
            hdr = struct.pack("!HHIHH", 2 << 12, session, state["index"] * 1000, 0, 2 << 1 | 1)
            platform = struct.pack("!II", 0x03 << 26 | session, state["index"])  # type 3
            g = gre_header(ET_ERSPAN3, seq=state["seq"]) + hdr + platform + mirrored
        state["seq"] += 1
        state["index"] += 1
        return ether(outer.packet(P_GRE, g, fwd), ET_IPV4, fwd)
    return wrap


def vxlan_wrap(outer, vni):
    def wrap(pkt, fwd):
        inner = ether(pkt, ethertype_of(pkt), fwd)
        sport = 49152 + (zlib.crc32(pkt[12:20]) & 0x3FFF)  # flow hash, as Linux does
        v = struct.pack("!BxxxI", 0x08, vni << 8) + inner
        return ether(outer.udp(sport, 4789, v, fwd), ET_IPV4, fwd)
    return wrap


def gtpu_wrap(outer, teid, mode):
    """mode: 'plain' (8-byte header), 'seq' (S flag: sequence number),
    'ext' (E flag: a PDU session container extension header)."""
    state = {"seq": 1}

    def wrap(pkt, fwd):
        if mode == "plain":
            flags, opt = 0x30, b""
        elif mode == "seq":
            flags, opt = 0x32, struct.pack("!HBB", state["seq"], 0, 0)
            state["seq"] += 1
        else:
            # next extension 0x85 (PDU session container): length 1 (4 bytes),
            # PDU type 1 (UL), QFI 9, no further extension
            flags, opt = 0x34, struct.pack("!HBB", 0, 0, 0x85) + bytes([1, 0x10, 0x09, 0])
        g = struct.pack("!BBHI", flags, 0xFF, len(opt) + len(pkt), teid) + opt + pkt
        return ether(outer.udp(2152, 2152, g, fwd), ET_IPV4, fwd)
    return wrap


def ipip_wrap(outer):
    """IP in IP (4), IPv6 in IPv4 (41), IPv4 in IPv6 (4), by the inner version."""
    def wrap(pkt, fwd):
        proto = P_IPV6 if pkt[0] >> 4 == 6 else P_IPIP
        o = outer.packet(proto, pkt, fwd)
        return ether(o, ethertype_of(o), fwd)
    return wrap


def nested_ipip_wrap(depth):
    """depth IP-in-IP layers around the packet, then Ethernet."""
    def wrap(pkt, fwd):
        for i in range(depth):
            a, b = "10.%d.0.1" % (i + 1), "10.%d.0.2" % (i + 1)
            pkt = ipv4(a, b, P_IPIP, pkt, ident=0x100 + i) if fwd else ipv4(b, a, P_IPIP, pkt)
        return ether(pkt, ET_IPV4, fwd)
    return wrap


def sll_wrap(pkt, fwd):
    # packet type: 0 to us, 4 sent by us; ARPHRD_ETHER; 6-byte address
    return struct.pack("!HHH8sH", 0 if fwd else 4, 1, 6, (MAC_A if fwd else MAC_B) + b"\0\0",
                       ethertype_of(pkt)) + pkt


def sll2_wrap(pkt, fwd):
    return struct.pack("!HHIHBB8s", ethertype_of(pkt), 0, 2, 1, 0 if fwd else 4, 6,
                       (MAC_A if fwd else MAC_B) + b"\0\0") + pkt


def null_wrap(endian):
    def wrap(pkt, fwd):
        family = 30 if pkt[0] >> 4 == 6 else 2  # AF_INET6 of macOS, AF_INET
        return struct.pack(endian + "I", family) + pkt
    return wrap


def loop_wrap(pkt, fwd):
    return struct.pack("!I", 24 if pkt[0] >> 4 == 6 else 2) + pkt  # AF_INET6 of OpenBSD


def raw_wrap(pkt, fwd):
    return pkt


def wlan_frame(pkt, fwd, qos):
    bssid = bytes.fromhex("020000000001")
    if fwd:  # station to AP: to-DS
        flags, a1, a2, a3 = 0x01, bssid, MAC_A, MAC_B
    else:  # AP to station: from-DS
        flags, a1, a2, a3 = 0x02, MAC_A, bssid, MAC_B
    fc = 0x88 if qos else 0x08
    hdr = struct.pack("<BBH6s6s6sH", fc, flags, 44, a1, a2, a3, 0x10 << 4)
    if qos:
        hdr += struct.pack("<H", 5)  # TID 5 (video... voice is 6/7: either is seen)
    llc = bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack("!H", ethertype_of(pkt))
    return hdr + llc + pkt


def wlan_wrap(pkt, fwd):
    return wlan_frame(pkt, fwd, qos=False)


def radiotap_wrap(pkt, fwd):
    # present: flags, rate, channel, dBm antenna signal, dBm antenna noise
    present = 1 << 1 | 1 << 2 | 1 << 3 | 1 << 5 | 1 << 6
    fields = struct.pack("<BBHHbb", 0x10, 0x0C, 2437, 0x00C0, -50, -95)  # flags: FCS at end
    hdr = struct.pack("<BBHI", 0, 0, 8 + len(fields), present) + fields
    frame = wlan_frame(pkt, fwd, qos=True)
    return hdr + frame + struct.pack("<I", zlib.crc32(frame))


# ---- SIP messages ------------------------------------------------------------

def hostport(a, port):
    return "[%s]:%d" % (a, port) if is6(a) else "%s:%d" % (a, port)


def sdp(a, port, sess, extra=()):
    kind = "IP6" if is6(a) else "IP4"
    lines = ["v=0", "o=- %d %d IN %s %s" % (sess, sess, kind, a), "s=-",
             "c=IN %s %s" % (kind, a), "t=0 0", "m=audio %d RTP/AVP 0 8 101" % port,
             "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
             "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20",
             "a=sendrecv"] + list(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


def ice_candidates(a, label, n):
    """SDP attribute lines that make an INVITE larger than one MTU, as ICE and
    SRTP offers do."""
    lines = ["a=ice-ufrag:%s" % hexid(label + "u", 8), "a=ice-pwd:%s" % hexid(label + "p", 24)]
    for i in range(n):
        lines.append("a=candidate:%d 1 udp %d %s %d typ host generation 0 network-id %d" %
                     (1000 + i, 2130706431 - i, a, 20000 + 2 * i, i))
        lines.append("a=candidate:%d 2 udp %d %s %d typ host generation 0 network-id %d" %
                     (1000 + i, 2130706430 - i, a, 20001 + 2 * i, i))
    lines.append("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s" %
                 base64.b64encode(prand(label + "k", 30)).decode())
    return lines


COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m",
           "Content-Length": "l", "Content-Type": "c", "Supported": "k"}


class Call:
    """One SIP dialog (or transaction) between two user agents: builds its
    requests and the responses to them, Content-Length always exact."""

    def __init__(self, name, transport, caller, callee, compact=False):
        self.transport = transport  # UDP, TCP, WS, SCTP, TLS
        self.caller, self.callee = caller, callee  # (address, port)
        self.call_id = "%s-%s@%s" % (hexid(name + "cid", 12), name, caller[0])
        self.from_tag = hexid(name + "ft", 8)
        self.to_tag = hexid(name + "tt", 8)
        self.compact = compact
        self.cseq = 0
        self.name = name
        self.requests = {}

    def _msg(self, start, headers, body, ctype):
        if body:
            headers.append(("Content-Type", ctype))
        headers.append(("Content-Length", str(len(body))))
        out = start + "\r\n"
        for name, value in headers:
            out += "%s: %s\r\n" % (COMPACT.get(name, name) if self.compact else name, value)
        return out.encode() + b"\r\n" + body

    def _via(self, branch):
        host = self.caller
        if self.transport == "WS":
            host = ("%s.invalid" % hexid(self.name + "ws", 8), 0)
            return "SIP/2.0/WS %s;branch=z9hG4bK%s" % (host[0], branch)
        return "SIP/2.0/%s %s;branch=z9hG4bK%s;rport" % (self.transport, hostport(*host), branch)

    def _contact(self, who):
        t = self.transport.lower()
        return "<sip:%s@%s;transport=%s>" % ("alice" if who == self.caller else "bob",
                                             hostport(*who), t)

    def request(self, method, body=b"", ctype="application/sdp", uri=None, extra=()):
        if method != "ACK":
            self.cseq += 1
        cseq = self.cseq if method != "ACK" else self.requests["INVITE"][1]
        branch = hexid("%s%s%d" % (self.name, method, self.cseq), 10)
        to = "<sip:bob@example.com>"
        if method in ("ACK", "BYE") or (method == "INVITE" and "BYE" in self.requests):
            to += ";tag=" + self.to_tag
        uri = uri or "sip:bob@%s" % hostport(*self.callee)
        headers = [("Via", self._via(branch)), ("Max-Forwards", "70"),
                   ("From", '"Alice" <sip:alice@example.com>;tag=' + self.from_tag),
                   ("To", to), ("Call-ID", self.call_id), ("CSeq", "%d %s" % (cseq, method))]
        if method in ("INVITE", "REGISTER", "OPTIONS", "SUBSCRIBE"):
            headers.append(("Contact", self._contact(self.caller)))
        if method == "REGISTER":
            headers.append(("Expires", "3600"))
        if method == "INVITE":
            headers.append(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, NOTIFY"))
            headers.append(("Supported", "replaces, timer"))
        headers += list(extra)
        headers.append(("User-Agent", "hepagent-gen/1.0"))
        self.requests[method] = (headers[:6], cseq, branch)
        return self._msg("%s %s SIP/2.0" % (method, uri), headers, body, ctype)

    def response(self, method, code, reason, body=b"", ctype="application/sdp"):
        base, cseq, _ = self.requests[method]
        headers = []
        for name, value in base:
            if name == "Max-Forwards":
                continue
            if name == "To" and code > 100 and ";tag=" not in value:
                value += ";tag=" + self.to_tag
            headers.append((name, value))
        if method == "INVITE" and 100 < code < 300:
            headers.append(("Contact", self._contact(self.callee)))
        headers.append(("Server", "hepagent-gen-uas/1.0"))
        return self._msg("SIP/2.0 %d %s" % (code, reason), headers, body, ctype)

    # a basic call
    def invite(self, extra_sdp=()):
        return self.request("INVITE", sdp(self.caller[0], 49170, 2890844526, extra_sdp))

    def trying(self):
        return self.response("INVITE", 100, "Trying")

    def ringing(self):
        return self.response("INVITE", 180, "Ringing")

    def ok_invite(self, extra_sdp=()):
        return self.response("INVITE", 200, "OK", sdp(self.callee[0], 3456, 2890844527, extra_sdp))

    def ack(self):
        return self.request("ACK")

    def bye(self):
        return self.request("BYE")

    def ok(self, method):
        return self.response(method, 200, "OK")


# ---- the capture being built -------------------------------------------------

class Capture:
    """Frames of one capture file, and the SIP messages hepagent must send."""

    def __init__(self, name, doc, linktype=LT_ETHERNET, wrap=None, fmt="pcap", endian="<",
                 interfaces=None, rules=None):
        self.name, self.doc = name, doc
        self.linktype, self.fmt, self.endian = linktype, fmt, endian
        self.interfaces = interfaces  # pcapng: [(linktype, name, tsresol)]
        self.wrap = wrap or eth_wrap()
        self.records = []  # (time in microseconds, interface, frame)
        self.expected = []
        self.pending = []  # TCP connections whose expectations are computed at the end
        self.now = BASE_US
        self.step = 0
        self.ident = 0x1000
        self.testlist = None  # extra TESTLIST flags
        self.rules = rules

    def next_ident(self):
        self.ident += 1
        return self.ident

    def tick(self):
        # distinct, irregular steps so that a wrong frame's time never matches
        self.step += 1
        self.now += 1000 + (self.step * 7919) % 900
        return self.now

    def frame(self, frame, interface=0):
        ts = self.tick()
        self.records.append((ts, interface, frame))
        return ts

    def send(self, pkt, fwd=True, wrap=None, interface=0):
        return self.frame((wrap or self.wrap)(pkt, fwd), interface)

    def expect(self, payload, src, dst, sport, dport, proto, ts, vlan=None):
        e = {"src": src, "dst": dst, "sport": sport, "dport": dport, "proto": proto,
             "sec": ts // 1000000, "usec": ts % 1000000, "payload": payload.decode("latin-1")}
        if vlan is not None:
            e["vlan"] = vlan
        self.expected.append(e)

    def udp_msg(self, src, sport, dst, dport, payload, fwd=True, wrap=None, vlan=None,
                expect=True, interface=0):
        pkt = ip(src, dst, P_UDP, udp(src, dst, sport, dport, payload), self.next_ident())
        ts = self.send(pkt, fwd, wrap, interface)
        if expect:
            self.expect(payload, src, dst, sport, dport, P_UDP, ts, vlan)
        return ts

    def finish(self):
        for conn in self.pending:
            conn.finish()
        self.pending = []


def udp_call(cap, call, fwd_wrap=None, vlan=None, msgs=("invite", "trying", "ringing", "ok",
                                                          "ack", "bye", "bye_ok")):
    """A call over UDP, every message one datagram."""
    (a, ap), (b, bp) = call.caller, call.callee
    for m in msgs:
        to_callee = m in ("invite", "ack", "bye")
        payload = {"invite": call.invite, "trying": call.trying, "ringing": call.ringing,
                   "ok": call.ok_invite, "ack": call.ack, "bye": call.bye,
                   "bye_ok": lambda: call.ok("BYE")}[m]()
        if to_callee:
            cap.udp_msg(a, ap, b, bp, payload, True, fwd_wrap, vlan)
        else:
            cap.udp_msg(b, bp, a, ap, payload, False, fwd_wrap, vlan)


class TcpConn:
    """One TCP connection. Each direction's byte stream is written first
    (write), then cut into segments (seg) sent in any order, any number of
    times. A SIP message is expected with the capture time of the first frame
    that carried its first byte."""

    def __init__(self, cap, client, server, isn=(0x1000, 0x8000), wrap=None, vlan=None,
                 interface=0):
        self.cap = cap
        self.ep = [client, server]  # (address, port)
        self.isn = list(isn)
        self.data = [bytearray(), bytearray()]
        self.msgs = []  # (direction, offset, payload)
        self.cover = []  # (direction, start, end, time)
        self.acked = [0, 0]
        self.wrap, self.vlan, self.interface = wrap, vlan, interface
        cap.pending.append(self)

    def write(self, d, data, expect=True):
        """Appends to direction d's stream (0: client to server); expect is
        True (data is one SIP message), False, or the message bytes to expect
        (WebSocket: the unmasked payload). Returns the offset of data."""
        off = len(self.data[d])
        self.data[d] += data
        if expect is True:
            self.msgs.append((d, off, bytes(data)))
        elif expect:
            self.msgs.append((d, off, bytes(expect)))
        return off

    def seq(self, d, off):
        return (self.isn[d] + 1 + off) & 0xFFFFFFFF

    def packet(self, d, flags, seq, payload):
        (src, sport), (dst, dport) = self.ep[d], self.ep[1 - d]
        ack = self.seq(1 - d, self.acked[1 - d])
        return ip(src, dst, P_TCP, tcp(src, dst, sport, dport, seq, ack, flags, payload),
                  self.cap.next_ident())

    def send(self, d, pkt):
        return self.cap.send(pkt, d == 0, self.wrap, self.interface)

    def handshake(self):
        (c, cp), (s, sp) = self.ep
        self.send(0, ip(c, s, P_TCP, tcp(c, s, cp, sp, self.isn[0], 0, SYN, b"")))
        self.send(1, ip(s, c, P_TCP, tcp(s, c, sp, cp, self.isn[1], self.isn[0] + 1, SYN | ACK,
                                         b"")))
        self.send(0, self.packet(0, ACK, self.seq(0, 0), b""))

    def seg(self, d, start, end=None, flags=PSH | ACK, frag=None):
        """Sends bytes [start, end) of direction d as one segment; frag is an
        optional list of (offset, length) IP fragments to send it as, in that
        order (the segment's time is then its first fragment's)."""
        end = len(self.data[d]) if end is None else end
        payload = bytes(self.data[d][start:end])
        if frag is None:
            ts = self.send(d, self.packet(d, flags, self.seq(d, start), payload))
        else:
            (src, sport), (dst, dport) = self.ep[d], self.ep[1 - d]
            l4 = tcp(src, dst, sport, dport, self.seq(d, start),
                     self.seq(1 - d, self.acked[1 - d]), flags, payload)
            ts = None
            for off, pkt in fragments(src, dst, P_TCP, l4, self.cap.next_ident(), frag):
                t = self.send(d, pkt)
                if off == 0 and ts is None:
                    ts = t
        self.cover.append((d, start, end, ts))
        self.acked[d] = max(self.acked[d], end)
        return ts

    def segs(self, d, start, end=None, size=1448):
        """In-order segments of at most size bytes."""
        end = len(self.data[d]) if end is None else end
        for o in range(start, end, size):
            self.seg(d, o, min(end, o + size))

    def push(self, d, data, expect=True):
        """Writes one message and sends it as one segment."""
        off = self.write(d, data, expect)
        self.seg(d, off, off + len(data))
        return off

    def ack_only(self, d):
        self.send(d, self.packet(d, ACK, self.seq(d, self.acked[d]), b""))

    def close(self):
        for d in (0, 1):
            self.send(d, self.packet(d, FIN | ACK, self.seq(d, len(self.data[d])), b""))
            self.acked[d] = len(self.data[d]) + 1
        self.ack_only(0)

    def finish(self):
        for d, off, payload in self.msgs:
            times = [t for dd, s, e, t in self.cover if dd == d and s <= off < e]
            assert times, "message at %d never sent" % off
            (src, sport), (dst, dport) = self.ep[d], self.ep[1 - d]
            self.cap.expect(payload, src, dst, sport, dport, P_TCP, min(times), self.vlan)


def tcp_call(cap, conn, call):
    """A whole call over an established connection, one message per segment."""
    conn.push(0, call.invite())
    conn.push(1, call.trying())
    conn.push(1, call.ringing())
    conn.push(1, call.ok_invite())
    conn.push(0, call.ack())
    conn.push(0, call.bye())
    conn.push(1, call.ok("BYE"))


# ---- file writers ------------------------------------------------------------

def pcap_bytes(cap):
    e = cap.endian
    out = struct.pack(e + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, cap.linktype)
    for ts, _, frame in cap.records:
        out += struct.pack(e + "IIII", ts // 1000000, ts % 1000000, len(frame), len(frame)) + frame
    return out


def pcapng_block(e, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def pcapng_option(e, code, value):
    return struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_bytes(cap):
    e = cap.endian
    shb = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb += pcapng_option(e, 4, b"gen_captures.py") + pcapng_option(e, 0, b"")
    out = pcapng_block(e, 0x0A0D0D0A, shb)
    for linktype, name, tsresol in cap.interfaces:
        idb = struct.pack(e + "HHI", linktype, 0, 262144) + pcapng_option(e, 2, name.encode())
        if tsresol != 6:
            idb += pcapng_option(e, 9, bytes([tsresol]))
        out += pcapng_block(e, 1, idb + pcapng_option(e, 0, b""))
    for ts, interface, frame in cap.records:
        units = ts * 10 ** (cap.interfaces[interface][2] - 6)
        body = struct.pack(e + "IIIII", interface, units >> 32, units & 0xFFFFFFFF, len(frame),
                           len(frame)) + frame
        out += pcapng_block(e, 6, body)
    return out


# ---- the captures ------------------------------------------------------------

CAPTURES = []


def capture(fn):
    CAPTURES.append(fn)
    return fn


CLIENT = (ALICE4, 45678)
SERVER = (BOB4, 5060)


@capture
def tcp_multi_msg():
    cap = Capture("tcp_multi_msg", "TCP: several SIP messages in one segment (100+180+200 in one, "
                  "ACK+BYE in one, OPTIONS+REGISTER in one and their two 200s in one).")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-multi-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    conn.push(0, call.invite())
    o = conn.write(1, call.trying())
    conn.write(1, call.ringing())
    conn.write(1, call.ok_invite())
    conn.seg(1, o)
    o = conn.write(0, call.ack())
    conn.write(0, call.bye())
    conn.seg(0, o)
    conn.push(1, call.ok("BYE"))
    opt = Call("tcp-multi-2", "TCP", CLIENT, SERVER)
    reg = Call("tcp-multi-3", "TCP", CLIENT, SERVER)
    o = conn.write(0, opt.request("OPTIONS"))
    conn.write(0, reg.request("REGISTER", uri="sip:example.com"))
    conn.seg(0, o)
    o = conn.write(1, opt.ok("OPTIONS"))
    conn.write(1, reg.ok("REGISTER"))
    conn.seg(1, o)
    conn.close()
    return cap


def cut_points(data, markers):
    """Offsets just after the first occurrence of each marker (a bytes
    string, or an int offset)."""
    out = []
    for m in markers:
        out.append(m if isinstance(m, int) else data.index(m) + len(m))
    return sorted(set(out))


@capture
def tcp_split():
    cap = Capture("tcp_split", "TCP: one INVITE split over nine segments (cuts inside the start "
                  "line, inside the Content-Length header, between the CR and LF of the blank "
                  "line, inside the body); a 200 OK cut right after its blank line; an ACK cut "
                  "into single bytes at its start.")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-split-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = call.invite()
    base = conn.write(0, inv)
    value = inv.index(b"Content-Length: ") + len(b"Content-Length: ")
    cuts = cut_points(inv, [5, b"INVITE sip:bob@", b"Via: SIP/2.0/TCP", b"Content-Le", value,
                            value + 1, b"Content-Type:", inv.index(b"\r\n\r\n") + 3,
                            b"m=audio"])
    bounds = [0] + cuts + [len(inv)]
    for s, e in zip(bounds, bounds[1:]):
        conn.seg(0, base + s, base + e)
    conn.push(1, call.trying())
    ok = call.ok_invite()
    base = conn.write(1, ok)
    mid = ok.index(b"\r\n\r\n") + 4
    conn.seg(1, base, base + mid)
    conn.seg(1, base + mid, base + len(ok))
    ack = call.ack()
    base = conn.write(0, ack)
    for i in range(4):
        conn.seg(0, base + i, base + i + 1)
    conn.seg(0, base + 4, base + len(ack))
    conn.push(0, call.bye())
    conn.push(1, call.ok("BYE"))
    conn.close()
    return cap


@capture
def tcp_out_of_order():
    cap = Capture("tcp_out_of_order", "TCP: segments out of order: an INVITE in four segments "
                  "sent 1,3,4,2; a 200 OK in two sent 2,1; an ACK and a BYE each in their own "
                  "segment, the BYE's first (so it is sent after the ACK, with its own earlier "
                  "time); a 200 OK whose last segment comes first, before any other.")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-ooo-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = call.invite()
    b = conn.write(0, inv)
    q = len(inv) // 4
    parts = [(b, b + q), (b + q, b + 2 * q), (b + 2 * q, b + 3 * q), (b + 3 * q, b + len(inv))]
    for i in (0, 2, 3, 1):
        conn.seg(0, *parts[i])
    conn.push(1, call.trying())
    ok = call.ok_invite()
    b = conn.write(1, ok)
    h = len(ok) // 2
    conn.seg(1, b + h, b + len(ok))
    conn.seg(1, b, b + h)
    a = conn.write(0, call.ack())
    y = conn.write(0, call.bye())
    conn.seg(0, y)
    conn.seg(0, a, y)
    ok = call.ok("BYE")
    b = conn.write(1, ok)
    conn.seg(1, b + 100, b + len(ok))
    conn.seg(1, b, b + 100)
    conn.close()
    return cap


@capture
def tcp_retransmit_overlap():
    cap = Capture("tcp_retransmit_overlap", "TCP: retransmitted segments (exact duplicates, one "
                  "long after the message was complete) and overlapping segments with the same "
                  "bytes: a retransmission re-cut across the boundary of two others, one that "
                  "covers a whole message again, and an overlap of a segment still waiting out "
                  "of order (the bytes that arrived first, and their time, are kept).")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-rtx-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = call.invite()
    b = conn.write(0, inv)
    t = len(inv) // 3
    conn.seg(0, b, b + t)
    conn.seg(0, b + t, b + 2 * t)
    conn.seg(0, b + t, b + 2 * t)  # exact duplicate
    conn.seg(0, b + 2 * t, b + len(inv))
    conn.push(1, call.trying())
    ok = call.ok_invite()
    b = conn.write(1, ok)
    h, t3 = len(ok) // 2, len(ok) // 3
    conn.seg(1, b, b + h)
    conn.seg(1, b + t3, b + len(ok))  # overlaps the first, same bytes
    conn.seg(1, b + t3, b + len(ok))  # and again
    conn.seg(0, 0, t)  # the INVITE's first segment, again, much later
    # ACK and BYE: P [0, a-100), R [a-20, end) held, Q [a-100, a+30) overlaps
    # R: the BYE's first byte was first seen in R, and keeps R's time
    a_msg = call.ack()
    a = conn.write(0, a_msg)
    y = conn.write(0, call.bye())
    end = len(conn.data[0])
    conn.seg(0, a, y - 100)
    conn.seg(0, y - 20, end)
    conn.seg(0, y - 100, y + 30)
    conn.seg(0, a, end)  # everything once more
    conn.push(1, call.ok("BYE"))
    conn.close()
    return cap


@capture
def tcp_midstream():
    cap = Capture("tcp_midstream", "TCP: capture starts in the middle of the connection (no "
                  "SYN): the client's first segment starts inside an INVITE's SDP, the server's "
                  "inside a 180's headers; both resynchronise at the next start line (the "
                  "partial messages are not sent). A second connection's capture starts exactly "
                  "at a message boundary.")
    conn = TcpConn(cap, CLIENT, SERVER, isn=(0x51000000, 0x2F000000))
    call = Call("tcp-mid-1", "TCP", CLIENT, SERVER)
    inv = call.invite()
    b = conn.write(0, inv, expect=False)
    r = call.ringing()
    br = conn.write(1, call.trying(), expect=False)
    conn.write(1, r, expect=False)
    conn.seg(0, b + inv.index(b"m=audio"), b + len(inv))
    ok = conn.write(1, call.ok_invite())
    conn.seg(1, br + len(call.trying()) + r.index(b"To:") + 3, ok)
    conn.seg(1, ok)
    conn.push(0, call.ack())
    conn.push(0, call.bye())
    conn.push(1, call.ok("BYE"))
    conn.close()
    conn2 = TcpConn(cap, (ALICE4, 45680), SERVER, isn=(0x0AB00000, 0x0CD00000))
    opt = Call("tcp-mid-2", "TCP", (ALICE4, 45680), SERVER)
    conn2.push(0, opt.request("OPTIONS"))
    conn2.push(1, opt.ok("OPTIONS"))
    return cap


@capture
def tcp_keepalive():
    cap = Capture("tcp_keepalive", "TCP: RFC 5626 keep-alives: double-CRLF pings and CRLF pongs "
                  "in their own segments, CRLFs before a message in the same segment, a CRLF "
                  "after a message in the same segment.")
    conn = TcpConn(cap, CLIENT, SERVER)
    reg = Call("tcp-ka-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    conn.push(0, reg.request("REGISTER", uri="sip:example.com"))
    conn.push(1, reg.ok("REGISTER"))
    conn.push(0, b"\r\n\r\n", expect=False)
    conn.push(1, b"\r\n", expect=False)
    o = conn.write(0, b"\r\n\r\n", expect=False)
    opt = Call("tcp-ka-2", "TCP", CLIENT, SERVER)
    conn.write(0, opt.request("OPTIONS"))
    conn.seg(0, o)
    o = conn.write(1, opt.ok("OPTIONS"))
    conn.write(1, b"\r\n", expect=False)
    conn.seg(1, o)
    conn.push(0, b"\r\n\r\n", expect=False)
    conn.push(1, b"\r\n", expect=False)
    call = Call("tcp-ka-3", "TCP", CLIENT, SERVER)
    tcp_call(cap, conn, call)
    conn.close()
    cap.testlist = "--tshark 10"
    return cap


@capture
def tcp_compact():
    cap = Capture("tcp_compact", "TCP: compact header forms (v: f: t: i: m: l: c: k:), framed "
                  "by 'l:'; two messages in one segment; a body split over two segments; a "
                  "'Content-Length :' with a space before the colon.")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-compact-1", "TCP", CLIENT, SERVER, compact=True)
    conn.handshake()
    inv = call.invite()
    b = conn.write(0, inv)
    conn.seg(0, b, b + len(inv) - 40)
    conn.seg(0, b + len(inv) - 40, b + len(inv))
    o = conn.write(1, call.trying())
    conn.write(1, call.ok_invite())
    conn.seg(1, o)
    conn.push(0, call.ack())
    opt = Call("tcp-compact-2", "TCP", CLIENT, SERVER)
    msg = opt.request("MESSAGE", body=b"Hello over TCP, framed by a spaced Content-Length.",
                      ctype="text/plain")
    msg = msg.replace(b"Content-Length:", b"Content-Length :")
    o = conn.write(0, msg)
    conn.write(0, call.bye())
    conn.seg(0, o)
    o = conn.write(1, opt.ok("MESSAGE"))
    conn.write(1, call.ok("BYE"))
    conn.seg(1, o)
    conn.close()
    cap.testlist = "--tshark 7"
    return cap


def text_body(label, size):
    """size bytes of text lines."""
    line_no, out = 0, b""
    while len(out) < size:
        out += ("%06d %s\r\n" % (line_no, hexid("%s%d" % (label, line_no), 60))).encode()
        line_no += 1
    return out[:size - 2] + b"\r\n"


@capture
def tcp_capture_loss():
    cap = Capture("tcp_capture_loss", "TCP: segments missing from the capture (dropped by the "
                  "capturing kernel; the receiver got them, its ACKs cover them): the middle "
                  "of the client's INVITE, the start of an OPTIONS the server sends. Those two "
                  "messages are lost; every message after a hole is sent, without waiting for "
                  "bytes that will never come.")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-loss-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = call.invite()
    b = conn.write(0, inv, expect=False)
    t = len(inv) // 3
    conn.seg(0, b, b + t)
    conn.seg(0, b + 2 * t, b + len(inv))  # [t, 2t) is not in the capture
    conn.push(1, call.trying())
    conn.push(1, call.ringing())
    conn.push(1, call.ok_invite())
    conn.push(0, call.ack())
    opt = Call("tcp-loss-2", "TCP", SERVER, CLIENT)
    r = opt.request("OPTIONS")
    o = conn.write(1, r, expect=False)
    conn.acked[1] = o + 150  # the first 150 bytes are not in the capture
    conn.seg(1, o + 150, o + len(r))
    conn.push(0, opt.ok("OPTIONS"))
    conn.push(0, call.bye())
    conn.push(1, call.ok("BYE"))
    conn.close()
    cap.testlist = "--tshark 3 --stat tcp.gaps=2"
    return cap


@capture
def tcp_large():
    cap = Capture("tcp_large", "TCP: a MESSAGE with a 60 KB body and a NOTIFY with a 100 KB body, "
                  "each in MSS-sized (1448-byte) segments, each followed by a small message. "
                  "The 100 KB one is reassembled but no HEP packet can hold it (16-bit length): "
                  "it is counted as hep_too_big, not sent.")
    conn = TcpConn(cap, CLIENT, SERVER)
    conn.handshake()
    big = Call("tcp-large-1", "TCP", CLIENT, SERVER)
    m = big.request("MESSAGE", body=text_body("m60", 60000), ctype="text/plain")
    o = conn.write(0, m)
    o2 = conn.write(0, big.request("OPTIONS"))
    conn.segs(0, o, o2 + 200)
    conn.seg(0, o2 + 200, len(conn.data[0]))
    conn.push(1, big.ok("MESSAGE"))
    conn.push(1, big.ok("OPTIONS"))
    huge = Call("tcp-large-2", "TCP", CLIENT, SERVER)
    huge.request("SUBSCRIBE", extra=[("Event", "presence")])
    n = huge.request("NOTIFY", body=text_body("n100", 100000), ctype="application/pidf+xml",
                     extra=[("Event", "presence"), ("Subscription-State", "active")])
    o = conn.write(0, n, expect=False)
    conn.write(0, huge.request("OPTIONS"))
    conn.segs(0, o)
    conn.push(1, huge.ok("OPTIONS"))
    conn.close()
    cap.testlist = "--tshark %d --stat hep_too_big=1" % (len(cap_expected_count(cap)) + 1)
    return cap


def cap_expected_count(cap):
    cap.finish()
    return cap.expected


@capture
def tcp_seq_wrap():
    cap = Capture("tcp_seq_wrap", "TCP: sequence numbers wrap around 2^32 inside messages: the "
                  "client's ISN is 2^32-401 and its INVITE's segments cross the wrap out of "
                  "order; the server's ISN is 2^32-1 (its data starts at 0).")
    conn = TcpConn(cap, CLIENT, SERVER, isn=(0xFFFFFE6F, 0xFFFFFFFF))
    call = Call("tcp-wrap-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = call.invite()
    b = conn.write(0, inv)
    wrap = 0x100000000 - (conn.isn[0] + 1)  # the stream offset where seq wraps to 0
    assert b + 250 < wrap < b + 550 < b + len(inv)
    conn.seg(0, b, b + 250)
    conn.seg(0, b + 550, b + len(inv))  # past the wrap, early
    conn.seg(0, b + 250, b + 550)  # crosses 2^32
    conn.push(1, call.trying())
    conn.push(1, call.ringing())
    ok = call.ok_invite()
    b = conn.write(1, ok)
    conn.seg(1, b + 300, b + len(ok))
    conn.seg(1, b, b + 300)
    conn.push(0, call.ack())
    conn.push(0, call.bye())
    conn.push(1, call.ok("BYE"))
    conn.close()
    return cap


@capture
def tcp_bidir():
    cap = Capture("tcp_bidir", "TCP: both directions interleaved segment by segment: the "
                  "client's INVITE and an OPTIONS of another transaction cross the server's "
                  "responses, each message in two or three segments.")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("tcp-bidir-1", "TCP", CLIENT, SERVER)
    opt = Call("tcp-bidir-2", "TCP", SERVER, CLIENT)
    conn.handshake()
    c = [conn.write(0, call.invite())]
    s = [conn.write(1, opt.request("OPTIONS"))]
    c.append(conn.write(0, opt.ok("OPTIONS")))
    s.append(conn.write(1, call.trying()))
    s.append(conn.write(1, call.ringing()))
    c.append(len(conn.data[0]))
    s.append(len(conn.data[1]))
    cuts0 = sorted(set(c + [c[0] + 333, c[0] + 700, c[1] + 150]))
    cuts1 = sorted(set(s + [s[0] + 200, s[1] + 100, s[2] + 57]))
    segs0 = list(zip(cuts0, cuts0[1:]))
    segs1 = list(zip(cuts1, cuts1[1:]))
    for i in range(max(len(segs0), len(segs1))):
        if i < len(segs0):
            conn.seg(0, *segs0[i])
        if i < len(segs1):
            conn.seg(1, *segs1[i])
    conn.push(1, call.ok_invite())
    conn.push(0, call.ack())
    o = conn.write(0, call.bye())
    o2 = conn.write(1, call.ok("BYE"))
    conn.seg(0, o, o + 120)
    conn.seg(1, o2, o2 + 50)
    conn.seg(0, o + 120)
    conn.seg(1, o2 + 50)
    conn.close()
    return cap


# ---- WebSocket ---------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(opcode, payload, fin=True, mask=None, long64=False):
    """One WebSocket frame (RFC 6455 5.2); mask is a 4-byte key or None."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if long64:  # 64-bit length form
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    elif n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        hdr += mask
    return hdr + payload


@capture
def ws_sip():
    cap = Capture("ws_sip", "WebSocket (RFC 7118): HTTP Upgrade with Sec-WebSocket-Protocol: sip "
                  "on port 8088; masked client frames, unmasked server frames; an INVITE in "
                  "three frames (text + two continuations, 7- and 16-bit lengths) with a ping "
                  "between them and a frame header cut by a segment boundary; two frames in "
                  "one segment; a 200 OK with the 64-bit length form; a binary frame; close.",
                  rules="rules_all.json")
    client, server = (ALICE4, 51234), (BOB4, 8088)
    conn = TcpConn(cap, client, server)
    conn.handshake()
    key = base64.b64encode(prand("ws-key", 16)).decode()
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    conn.push(0, ("GET / HTTP/1.1\r\nHost: %s:8088\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Origin: http://example.com\r\nSec-WebSocket-Protocol: sip\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % (BOB4, key)).encode(), expect=False)
    conn.push(1, ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                  "Sec-WebSocket-Protocol: sip\r\n\r\n" % accept).encode(), expect=False)
    masks = iter(prand("ws-masks", 4 * 32)[i:i + 4] for i in range(0, 128, 4))
    call = Call("ws-1", "WS", client, server)
    reg = Call("ws-2", "WS", client, server)
    r = reg.request("REGISTER", uri="sip:example.com")
    conn.push(0, ws_frame(1, r, mask=next(masks)), expect=r)
    r = reg.ok("REGISTER")
    conn.push(1, ws_frame(1, r), expect=r)
    # INVITE: text frame of 100 bytes, ping, continuation of 400, continuation with the rest
    inv = call.invite()
    o = conn.write(0, ws_frame(1, inv[:100], fin=False, mask=next(masks)), expect=inv)
    conn.write(0, ws_frame(9, b"keepalive", mask=next(masks)), expect=False)
    conn.write(0, ws_frame(0, inv[100:500], fin=False, mask=next(masks)), expect=False)
    p = conn.write(0, ws_frame(0, inv[500:], mask=next(masks)), expect=False)
    conn.seg(0, o, p + 3)  # the last frame's header is cut after 3 bytes
    conn.seg(0, p + 3)
    conn.push(1, ws_frame(10, b"keepalive"), expect=False)  # pong
    t, g = call.trying(), call.ringing()
    o = conn.write(1, ws_frame(1, t), expect=t)
    conn.write(1, ws_frame(1, g), expect=g)
    conn.seg(1, o)
    ok = call.ok_invite()
    conn.push(1, ws_frame(1, ok, long64=True), expect=ok)
    r = call.ack()
    conn.push(0, ws_frame(2, r, mask=next(masks)), expect=r)  # binary
    r = call.bye()
    conn.push(0, ws_frame(1, r, mask=next(masks)), expect=r)
    r = call.ok("BYE")
    conn.push(1, ws_frame(1, r), expect=r)
    conn.push(0, ws_frame(8, struct.pack("!H", 1000), mask=next(masks)), expect=False)
    conn.push(1, ws_frame(8, struct.pack("!H", 1000)), expect=False)
    conn.close()
    cap.testlist = "--tshark 9"
    return cap


@capture
def ws_midstream():
    cap = Capture("ws_midstream", "WebSocket seen from the middle (the capture starts after the "
                  "HTTP upgrade, as when hepagent restarts while WebRTC clients stay "
                  "connected): masked client frames and unmasked server frames whose payloads "
                  "start with a SIP start line; the client's first captured segment starts in "
                  "the middle of a frame, so its first message is lost and framing resumes at "
                  "the next segment that starts a frame.", rules="rules_all.json")
    client, server = (ALICE4, 51240), (BOB4, 8088)
    conn = TcpConn(cap, client, server, isn=(0x3C000000, 0x7D000000))
    masks = iter(prand("wsm-masks", 4 * 16)[i:i + 4] for i in range(0, 64, 4))
    call = Call("wsm-1", "WS", client, server)
    opt = Call("wsm-2", "WS", client, server)
    r = opt.request("OPTIONS")
    o = conn.write(0, ws_frame(1, r, mask=next(masks)), expect=False)
    conn.seg(0, o + 40)  # a frame cut: its start was before the capture
    r = opt.ok("OPTIONS")
    conn.push(1, ws_frame(1, r), expect=r)
    r = call.invite()
    conn.push(0, ws_frame(1, r, mask=next(masks)), expect=r)
    for r in (call.trying(), call.ringing(), call.ok_invite()):
        conn.push(1, ws_frame(1, r), expect=r)
    for r in (call.ack(), call.bye()):
        conn.push(0, ws_frame(1, r, mask=next(masks)), expect=r)
    r = call.ok("BYE")
    conn.push(1, ws_frame(1, r), expect=r)
    cap.testlist = "--tshark 0 --stat tcp.ws_resyncs=2"
    return cap


# ---- TLS ---------------------------------------------------------------------

def tls_record(ctype, body, version=0x0303):
    return struct.pack("!BHH", ctype, version, len(body)) + body


def tls_ext(etype, body):
    return struct.pack("!HH", etype, len(body)) + body


def client_hello(sni):
    name = sni.encode()
    exts = tls_ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += tls_ext(10, struct.pack("!HHHH", 6, 0x001D, 0x0017, 0x0018))  # supported groups
    exts += tls_ext(13, struct.pack("!HHHHH", 8, 0x0403, 0x0804, 0x0401, 0x0201))
    exts += tls_ext(43, struct.pack("!BHH", 4, 0x0304, 0x0303))  # supported versions
    exts += tls_ext(51, struct.pack("!HHH", 36, 0x001D, 32) + prand("tls-ckey", 32))
    suites = struct.pack("!HHHHH", 8, 0x1301, 0x1302, 0x1303, 0xC02F)
    body = struct.pack("!H", 0x0303) + prand("tls-crand", 32) + b"\x20" + prand("tls-sid", 32)
    body += suites + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    hs = struct.pack("!I", 1 << 24 | len(body)) + body
    return tls_record(22, hs, 0x0301)


def server_hello():
    exts = tls_ext(43, struct.pack("!H", 0x0304))
    exts += tls_ext(51, struct.pack("!HH", 0x001D, 32) + prand("tls-skey", 32))
    body = struct.pack("!H", 0x0303) + prand("tls-srand", 32) + b"\x20" + prand("tls-sid", 32)
    body += struct.pack("!HB", 0x1301, 0) + struct.pack("!H", len(exts)) + exts
    hs = struct.pack("!I", 2 << 24 | len(body)) + body
    return tls_record(22, hs) + tls_record(20, b"\x01") + tls_record(23, prand("tls-enc-ee", 900))


@capture
def tls_5061():
    cap = Capture("tls_5061", "TLS: a SIP-over-TLS connection on port 5061 (ClientHello with SNI, "
                  "ServerHello, encrypted records both ways) is recognised and not sent "
                  "without keys; a TLS connection seen from its middle (application data "
                  "first) is recognised too and sends nothing (four directions counted in "
                  "tcp.tls_streams); a plain SIP connection beside them is sent.")
    conn = TcpConn(cap, (ALICE4, 45700), (BOB4, 5061))
    conn.handshake()
    conn.push(0, client_hello("sip.example.com"), expect=False)
    conn.push(1, server_hello(), expect=False)
    conn.push(0, tls_record(20, b"\x01") + tls_record(23, prand("tls-fin", 53)), expect=False)
    for i in range(3):
        conn.push(0, tls_record(23, prand("tls-c%d" % i, 700 + 31 * i)), expect=False)
        conn.push(1, tls_record(23, prand("tls-s%d" % i, 400 + 17 * i)), expect=False)
    mid = TcpConn(cap, (ALICE4, 45702), (BOB4, 5061), isn=(0x7700000, 0x3300000))
    for i in range(2):
        mid.push(0, tls_record(23, prand("tls-m%d" % i, 650)), expect=False)
        mid.push(1, tls_record(23, prand("tls-n%d" % i, 380)), expect=False)
    plain = TcpConn(cap, CLIENT, SERVER)
    plain.handshake()
    opt = Call("tls-plain-1", "TCP", CLIENT, SERVER)
    plain.push(0, opt.request("OPTIONS"))
    plain.push(1, opt.ok("OPTIONS"))
    conn.close()
    plain.close()
    cap.testlist = "--stat tcp.tls_streams=4"
    return cap


# ---- SCTP --------------------------------------------------------------------

class SctpAssoc:
    """An SCTP association: each direction's DATA chunks with its own TSNs."""

    def __init__(self, cap, client, server, wrap=None):
        self.cap, self.ep, self.wrap = cap, [client, server], wrap
        self.vtag = [0x1A2B3C4D, 0x5E6F7A8B]  # the tag each side expects
        self.tsn = [1000, 50000]
        self.ssn = [0, 0]

    def packet(self, d, chunks):
        (src, sport), (dst, dport) = self.ep[d], self.ep[1 - d]
        vtag = self.vtag[1 - d] if chunks[0][0] != 1 else 0
        pkt = ip(src, dst, P_SCTP, sctp(sport, dport, vtag, chunks), self.cap.next_ident())
        return self.cap.send(pkt, d == 0, self.wrap)

    def handshake(self):
        init = struct.pack("!IIHHI", self.vtag[0], 65536, 10, 10, self.tsn[0])
        self.packet(0, [chunk(1, 0, init)])
        cookie = struct.pack("!HH", 7, 36) + prand("sctp-cookie", 32)  # state cookie
        ack = struct.pack("!IIHHI", self.vtag[1], 65536, 10, 10, self.tsn[1]) + cookie
        self.packet(1, [chunk(2, 0, ack)])
        self.packet(0, [chunk(10, 0, prand("sctp-cookie", 32))])
        self.packet(1, [chunk(11, 0, b"")])

    def data(self, d, payload, flags=3, sid=0, ssn=None, tsn=None):
        """A DATA chunk (flags: 2 begin, 1 end); a new TSN unless given."""
        if tsn is None:
            tsn = self.tsn[d]
            self.tsn[d] += 1
        if ssn is None:
            ssn = self.ssn[d]
            if flags & 1:
                self.ssn[d] += 1
        return chunk(0, flags, struct.pack("!IHHI", tsn, sid, ssn, 0) + payload)  # PPID 0

    def sack(self, d):
        return chunk(3, 0, struct.pack("!IIHH", self.tsn[1 - d] - 1, 65536, 0, 0))

    def send_msg(self, d, payload, bundle_sack=False):
        (src, sport), (dst, dport) = self.ep[d], self.ep[1 - d]
        chunks = ([self.sack(d)] if bundle_sack else []) + [self.data(d, payload)]
        ts = self.packet(d, chunks)
        self.cap.expect(payload, src, dst, sport, dport, P_SCTP, ts)
        return ts


def chunk(ctype, flags, body):
    c = struct.pack("!BBH", ctype, flags, 4 + len(body)) + body
    return c + b"\0" * (-len(c) % 4)


@capture
def sctp_sip():
    cap = Capture("sctp_sip", "SCTP: SIP in DATA chunks (PPID 0) after INIT/INIT ACK/COOKIE: "
                  "two DATA chunks in one packet, an INVITE fragmented over three DATA chunks "
                  "(B, middle, E), a SACK bundled with DATA, a retransmitted DATA chunk (same "
                  "TSN) alone and bundled with a new one: each message sent once.",
                  rules="rules_all.json")
    client, server = (ALICE4, 5060), (BOB4, 5060)
    a = SctpAssoc(cap, client, server)
    a.handshake()
    opt = Call("sctp-1", "SCTP", client, server)
    a.send_msg(0, opt.request("OPTIONS"))
    a.send_msg(1, opt.ok("OPTIONS"), bundle_sack=True)
    call = Call("sctp-2", "SCTP", client, server)
    inv = call.invite(ice_candidates(ALICE4, "sctp", 2))
    n = len(inv) // 3
    ts = a.packet(0, [a.data(0, inv[:n], flags=2)])
    a.packet(0, [a.data(0, inv[n:2 * n], flags=0)])
    a.packet(0, [a.data(0, inv[2 * n:], flags=1)])
    cap.expect(inv, client[0], server[0], client[1], server[1], P_SCTP, ts)
    t, r = call.trying(), call.ringing()
    ts = a.packet(1, [a.sack(1), a.data(1, t), a.data(1, r)])
    cap.expect(t, server[0], client[0], server[1], client[1], P_SCTP, ts)
    cap.expect(r, server[0], client[0], server[1], client[1], P_SCTP, ts)
    ok = call.ok_invite()
    ok_tsn = a.tsn[1]
    a.send_msg(1, ok)
    a.packet(1, [a.data(1, ok, tsn=ok_tsn, ssn=a.ssn[1] - 1)])  # retransmission
    a.send_msg(0, call.ack(), bundle_sack=True)
    a.send_msg(0, call.bye())
    bye_ok = call.ok("BYE")
    ts = a.packet(1, [a.data(1, ok, tsn=ok_tsn, ssn=a.ssn[1] - 1), a.data(1, bye_ok)])
    cap.expect(bye_ok, server[0], client[0], server[1], client[1], P_SCTP, ts)
    a.packet(0, [a.sack(0)])
    cap.testlist = "--tshark 9"
    return cap


@capture
def sctp_frag_retransmit():
    cap = Capture("sctp_frag_retransmit", "SCTP: the middle DATA chunk of a fragmented INVITE "
                  "is lost before the capture point and retransmitted after the last one "
                  "(same TSN); the message is joined once all fragments are there.",
                  rules="rules_all.json")
    client, server = (ALICE4, 5060), (BOB4, 5060)
    a = SctpAssoc(cap, client, server)
    a.handshake()
    call = Call("sctpr-1", "SCTP", client, server)
    inv = call.invite(ice_candidates(ALICE4, "sctpr", 2))
    n = len(inv) // 3
    tsn = a.tsn[0]
    first = a.data(0, inv[:n], flags=2)
    middle = a.data(0, inv[n:2 * n], flags=0)
    last = a.data(0, inv[2 * n:], flags=1)
    ts = a.packet(0, [first])
    a.packet(0, [last])
    a.packet(1, [chunk(3, 0, struct.pack("!IIHHHH", tsn, 65536, 1, 0, 2, 2))])  # SACK, gap
    a.packet(0, [middle])
    cap.expect(inv, client[0], server[0], client[1], server[1], P_SCTP, ts)
    a.send_msg(1, call.trying(), bundle_sack=True)
    cap.testlist = "--tshark 2 --stat sctp.reassembled=1"
    return cap


# ---- IP fragments ------------------------------------------------------------

def send_fragmented(cap, src, sport, dst, dport, payload, pieces, fwd=True, expect=True,
                    vlan=None, replace=None):
    """A UDP datagram as IP fragments sent in the order of pieces; replace
    maps an index in pieces to other bytes for that fragment's data."""
    l4 = udp(src, dst, sport, dport, payload)
    ident = cap.next_ident() if not is6(src) else 0x10000 + cap.next_ident()
    first = None
    for i, (off, pkt) in enumerate(fragments(src, dst, P_UDP, l4, ident, pieces)):
        if replace and i in replace:
            n = pieces[i][1]
            forged = bytearray(l4)
            forged[off:off + n] = replace[i]
            pkt = dict(fragments(src, dst, P_UDP, bytes(forged), ident, [pieces[i]]))[off]
        t = cap.send(pkt, fwd)
        if off == 0 and first is None:
            first = t
    if expect:
        cap.expect(payload, src, dst, sport, dport, P_UDP, first, vlan)
    return first


def big_invite(call, label):
    return call.invite(ice_candidates(call.caller[0], label, 14))


@capture
def ipfrag_v4_udp():
    cap = Capture("ipfrag_v4_udp", "IPv4 fragments of UDP SIP (MTU 1500): an INVITE in three "
                  "fragments sent 3,1,2; a 200 OK whose second fragment comes twice; a MESSAGE "
                  "with a fragment overlapping two others (same bytes); two datagrams' "
                  "fragments interleaved. Timestamp: the first fragment's (offset 0).")
    c, s = (ALICE4, 5060), (BOB4, 5060)
    call = Call("frag4-1", "UDP", c, s)
    inv = big_invite(call, "f4")
    assert len(inv) + 8 > 2960
    three = [(0, 1480), (1480, 1480), (2960, None)]
    send_fragmented(cap, *c, *s, inv, [three[2], three[0], three[1]])
    cap.udp_msg(*s, *c, call.trying(), False)
    ok = call.ok_invite(ice_candidates(BOB4, "f4b", 14))
    send_fragmented(cap, *s, *c, ok, [three[0], three[1], three[1], three[2]], fwd=False)
    cap.udp_msg(*c, *s, call.ack())
    m = Call("frag4-2", "UDP", c, s)
    msg = m.request("MESSAGE", body=text_body("f4m", 3000), ctype="text/plain")
    send_fragmented(cap, *c, *s, msg, [(0, 1480), (1000, 1000), (1480, 1480), (2960, None)])
    cap.udp_msg(*s, *c, m.ok("MESSAGE"), False)
    # two datagrams interleaved: a NOTIFY and the BYE of the call
    n = Call("frag4-3", "UDP", c, s)
    n.request("SUBSCRIBE")
    notify = n.request("NOTIFY", body=text_body("f4n", 2000), ctype="application/dialog-info+xml",
                       extra=[("Event", "dialog"), ("Subscription-State", "active")])
    bye = call.bye()
    l1 = udp(c[0], s[0], c[1], s[1], notify)
    pieces = [(0, 1480), (1480, None)]
    f1 = fragments(c[0], s[0], P_UDP, l1, cap.next_ident(), pieces)
    inv2 = big_invite(Call("frag4-4", "UDP", c, s), "f4i")
    l2 = udp(c[0], s[0], c[1], s[1], inv2)
    f2 = fragments(c[0], s[0], P_UDP, l2, cap.next_ident(), three)
    t1 = cap.send(f1[0][1])
    t2 = cap.send(f2[0][1])
    cap.send(f2[1][1])
    cap.send(f1[1][1])
    cap.send(f2[2][1])
    cap.expect(notify, c[0], s[0], c[1], s[1], P_UDP, t1)
    cap.expect(inv2, c[0], s[0], c[1], s[1], P_UDP, t2)
    cap.udp_msg(*c, *s, bye)
    cap.udp_msg(*s, *c, call.ok("BYE"), False)
    return cap


@capture
def ipfrag_v4_overlap_conflict():
    cap = Capture("ipfrag_v4_overlap_conflict", "IPv4 fragments: a forged fragment overlapping "
                  "two earlier ones with different bytes, sent before the last fragment. "
                  "hepagent keeps the bytes that arrived first (agent/ipfrag.c), so the "
                  "original INVITE is sent; Wireshark copies fragments in offset order and "
                  "shows the forged bytes.")
    c, s = (ALICE4, 5060), (BOB4, 5060)
    call = Call("frag4c-1", "UDP", c, s)
    inv = big_invite(call, "f4c")
    forged = b"X" * 1000
    send_fragmented(cap, *c, *s, inv, [(0, 1480), (1480, 1480), (1000, 1000), (2960, None)],
                    replace={2: forged})
    cap.udp_msg(*s, *c, call.trying(), False)
    cap.testlist = "--tshark 2 --stat ipfrag.overlaps=1"
    return cap


@capture
def ipfrag_v4_tcp():
    cap = Capture("ipfrag_v4_tcp", "IPv4 fragments of TCP segments: an INVITE's segment in two "
                  "fragments sent last first; a segment in three fragments that ends a message "
                  "and starts the next one (completed by an unfragmented segment).")
    conn = TcpConn(cap, CLIENT, SERVER)
    call = Call("frag4t-1", "TCP", CLIENT, SERVER)
    conn.handshake()
    inv = big_invite(call, "f4t")
    o = conn.write(0, inv)
    assert len(inv) + 20 > 2960
    conn.seg(0, o, frag=[(2960, None), (0, 1480), (1480, 1480)])
    conn.push(1, call.trying())
    ok = call.ok_invite(ice_candidates(BOB4, "f4tb", 14))
    o = conn.write(1, ok)
    conn.seg(1, o, o + 200)
    p = conn.write(1, call.ok_invite())  # a retransmitted 200 OK, as UAS do until the ACK
    assert p + 300 - (o + 200) + 20 > 2960
    conn.seg(1, o + 200, p + 300, frag=[(0, 1480), (2960, None), (1480, 1480)])
    conn.seg(1, p + 300)
    conn.push(0, call.ack())
    conn.close()
    return cap


@capture
def ipfrag_v6_udp():
    cap = Capture("ipfrag_v6_udp", "IPv6 fragments (Fragment header) of UDP SIP: an INVITE in "
                  "three fragments sent 2,3,1; a 200 OK whose first fragment comes twice (an "
                  "exact duplicate is not an overlap, RFC 5722 section 4, and the datagram is "
                  "kept). Fragments inside a tunnel: tun_vxlan; of a tunnel: tun_gre.")
    c, s = (ALICE6, 5060), (BOB6, 5060)
    call = Call("frag6-1", "UDP", c, s)
    inv = big_invite(call, "f6")
    three = [(0, 1448), (1448, 1448), (2896, None)]
    assert len(inv) + 8 > 2896
    send_fragmented(cap, *c, *s, inv, [three[1], three[2], three[0]])
    cap.udp_msg(*s, *c, call.trying(), False)
    ok = call.ok_invite(ice_candidates(BOB6, "f6b", 14))
    send_fragmented(cap, *s, *c, ok, [three[0], three[0], three[1], three[2]], fwd=False)
    cap.udp_msg(*c, *s, call.ack())
    cap.udp_msg(*c, *s, call.bye())
    cap.udp_msg(*s, *c, call.ok("BYE"), False)
    cap.testlist = "--stat ipfrag.duplicates=1"
    return cap


@capture
def ipfrag_v6_overlap():
    cap = Capture("ipfrag_v6_overlap", "IPv6 fragments overlapping (same bytes): RFC 5722 "
                  "makes the receiver discard the whole datagram, so it never reached the "
                  "SIP endpoint and hepagent does not send it (ipfrag.overlap_dropped); the "
                  "following datagram without overlap is sent. Wireshark joins both.")
    c, s = (ALICE6, 5060), (BOB6, 5060)
    call = Call("frag6o-1", "UDP", c, s)
    inv = big_invite(call, "f6o")
    send_fragmented(cap, *c, *s, inv, [(0, 1448), (1000, 1448), (1448, 1448), (2896, None)],
                    expect=False)
    inv2 = Call("frag6o-2", "UDP", c, s).invite(ice_candidates(ALICE6, "f6o2", 14))
    send_fragmented(cap, *c, *s, inv2, [(0, 1448), (1448, 1448), (2896, None)])
    cap.testlist = "--tshark 2 --stat ipfrag.overlap_dropped=1"
    return cap


# ---- tunnels -----------------------------------------------------------------

def tunnel_capture(name, doc, wrap, vlan=None, tcp_too=True, v6=False):
    cap = Capture(name, doc, wrap=wrap)
    c, s = ((ALICE6, 5060), (BOB6, 5060)) if v6 else ((ALICE4, 5060), (BOB4, 5060))
    udp_call(cap, Call(name + "-udp", "UDP", c, s), vlan=vlan)
    if tcp_too:
        client = (c[0], 45678)
        conn = TcpConn(cap, client, s, wrap=wrap, vlan=vlan)
        conn.handshake()
        opt = Call(name + "-tcp", "TCP", client, s)
        conn.push(0, opt.request("OPTIONS"))
        conn.push(1, opt.ok("OPTIONS"))
        conn.close()
    return cap


@capture
def tun_mpls():
    return tunnel_capture("tun_mpls", "MPLS: a two-label stack (1001, 2002 bottom) over "
                          "Ethernet, SIP over UDP and TCP inside.", mpls_wrap([1001, 2002]))


@capture
def tun_vlan():
    return tunnel_capture("tun_vlan", "802.1Q VLAN 100: SIP over UDP and TCP; the HEP VLAN "
                          "chunk carries 100.", eth_wrap([(ET_VLAN, 100)]), vlan=100)


@capture
def tun_qinq():
    return tunnel_capture("tun_qinq", "QinQ: 802.1ad S-tag 200 (0x88a8) then 802.1Q C-tag 300: "
                          "SIP over UDP and TCP; the HEP VLAN chunk carries the inner 300.",
                          eth_wrap([(ET_QINQ, 200), (ET_VLAN, 300)]), vlan=300)


@capture
def tun_pppoe():
    cap = tunnel_capture("tun_pppoe", "PPPoE session (0x8864, session 0x1234): SIP over UDP "
                         "and TCP in PPP IPv4 (0x0021), and over UDP in PPP IPv6 (0x0057).",
                         pppoe_wrap(0x1234))
    udp_call(cap, Call("tun_pppoe-v6", "UDP", (ALICE6, 5060), (BOB6, 5060)),
             msgs=("invite", "trying", "ringing"))
    return cap


@capture
def tun_gre():
    outer = Outer(OUTER4_A, OUTER4_B)
    cap = Capture("tun_gre", "GRE over IPv4: plain GRE with IPv4 inside (UDP SIP); GRE with a "
                  "key and TCP SIP inside; GRE with checksum and sequence number and IPv6 "
                  "inside; GRE over IPv6; GRE transparent Ethernet bridging (0x6558); a GRE "
                  "packet fragmented by the outer IPv4 (the inner INVITE is whole inside).",
                  wrap=gre_wrap(outer))
    c, s = (ALICE4, 5060), (BOB4, 5060)
    udp_call(cap, Call("gre-1", "UDP", c, s), msgs=("invite", "trying", "ringing", "ok"))
    keyed = gre_wrap(outer, key=0xABCD)
    conn = TcpConn(cap, (ALICE4, 45678), s, wrap=keyed)
    conn.handshake()
    opt = Call("gre-2", "TCP", (ALICE4, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    conn.close()
    v6 = gre_wrap(outer, seq_from=1, checksum=True)
    call6 = Call("gre-3", "UDP", (ALICE6, 5060), (BOB6, 5060))
    cap.udp_msg(ALICE6, 5060, BOB6, 5060, call6.invite(), wrap=v6)
    cap.udp_msg(BOB6, 5060, ALICE6, 5060, call6.trying(), fwd=False, wrap=v6)
    over6 = gre_wrap(Outer(OUTER6_A, OUTER6_B))
    call7 = Call("gre-6", "UDP", c, s)
    cap.udp_msg(*c, *s, call7.invite(), wrap=over6)
    cap.udp_msg(*s, *c, call7.trying(), fwd=False, wrap=over6)
    teb = gre_wrap(outer, teb=True)
    call4 = Call("gre-4", "UDP", c, s)
    cap.udp_msg(*c, *s, call4.invite(), wrap=teb)
    cap.udp_msg(*s, *c, call4.trying(), fwd=False, wrap=teb)
    # outer fragmentation: GRE packet of 1500+ bytes over a 1400 MTU path
    call5 = Call("gre-5", "UDP", c, s)
    inv = call5.invite(ice_candidates(ALICE4, "gre5", 6))
    inner = ipv4(c[0], s[0], P_UDP, udp(c[0], s[0], c[1], s[1], inv), ident=0x77)
    g = gre_header(ET_IPV4) + inner
    assert len(g) > 1380
    first = None
    for off, pkt in fragments(OUTER4_A, OUTER4_B, P_GRE, g, 0x5151, [(0, 1376), (1376, None)]):
        t = cap.frame(ether(pkt, ET_IPV4))
        first = first or t
    cap.expect(inv, c[0], s[0], c[1], s[1], P_UDP, first)
    return cap


@capture
def tun_erspan():
    outer = Outer(OUTER4_A, OUTER4_B)
    cap = Capture("tun_erspan", "ERSPAN: type I (GRE 0x88be without sequence number, no ERSPAN "
                  "header), type II (0x88be with sequence number and 8-byte header; one mirrored "
                  "frame with an 802.1Q tag 42, which the HEP VLAN chunk carries), type III "
                  "(0x22eb, 12-byte header plus platform subheader).", wrap=erspan_wrap(outer, 1))
    c, s = (ALICE4, 5060), (BOB4, 5060)
    udp_call(cap, Call("erspan-1", "UDP", c, s), msgs=("invite", "trying", "ringing"))
    udp_call(cap, Call("erspan-2", "UDP", c, s), erspan_wrap(outer, 2),
             msgs=("invite", "trying", "ringing"))
    udp_call(cap, Call("erspan-2v", "UDP", c, s), erspan_wrap(outer, 2, inner_tags=[(ET_VLAN, 42)]),
             vlan=42, msgs=("invite", "trying"))
    e3 = erspan_wrap(outer, 3)
    udp_call(cap, Call("erspan-3", "UDP", c, s), e3, msgs=("invite", "trying", "ringing"))
    conn = TcpConn(cap, (ALICE4, 45678), s, wrap=e3)
    conn.handshake()
    opt = Call("erspan-3t", "TCP", (ALICE4, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    return cap


@capture
def tun_vxlan():
    wrap = vxlan_wrap(Outer(OUTER4_A, OUTER4_B), 5001)
    cap = tunnel_capture("tun_vxlan", "VXLAN (UDP 4789, VNI 5001): inner Ethernet with SIP "
                         "over UDP and TCP; an inner UDP INVITE in two inner IPv4 fragments, "
                         "each in its own VXLAN packet, the second first.", wrap)
    c, s = (ALICE4, 5060), (BOB4, 5060)
    inv = Call("vxlan-frag", "UDP", c, s).invite(ice_candidates(ALICE4, "vxf", 6))
    frags = fragments(c[0], s[0], P_UDP, udp(c[0], s[0], c[1], s[1], inv), cap.next_ident(),
                      [(1336, None), (0, 1336)])
    assert len(inv) + 8 > 1336
    cap.send(frags[0][1])
    ts = cap.send(frags[1][1])
    cap.expect(inv, c[0], s[0], c[1], s[1], P_UDP, ts)
    return cap


@capture
def tun_ipip():
    cap = Capture("tun_ipip", "IP in IP (protocol 4) with UDP and TCP SIP; IPv6 in IPv4 "
                  "(6in4, protocol 41); IPv4 in IPv6 (4in6).",
                  wrap=ipip_wrap(Outer(OUTER4_A, OUTER4_B)))
    c, s = (ALICE4, 5060), (BOB4, 5060)
    udp_call(cap, Call("ipip-1", "UDP", c, s), msgs=("invite", "trying", "ringing"))
    conn = TcpConn(cap, (ALICE4, 45678), s)
    conn.handshake()
    opt = Call("ipip-2", "TCP", (ALICE4, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    conn.close()
    w = ipip_wrap(Outer(OUTER4_A, OUTER4_B))
    udp_call(cap, Call("6in4", "UDP", (ALICE6, 5060), (BOB6, 5060)), w,
             msgs=("invite", "trying", "ringing"))
    w = ipip_wrap(Outer(OUTER6_A, OUTER6_B))
    udp_call(cap, Call("4in6", "UDP", c, s), w, msgs=("invite", "trying", "ringing"))
    return cap


@capture
def tun_gtpu():
    outer = Outer(OUTER4_A, OUTER4_B)
    cap = Capture("tun_gtpu", "GTP-U (UDP 2152): G-PDUs with the 8-byte header (IPv4 UDP SIP), "
                  "with a sequence number (S flag; IPv6 UDP SIP, as IMS uses), with a PDU "
                  "session container extension header (E flag; TCP SIP).",
                  wrap=gtpu_wrap(outer, 0x11223344, "plain"))
    c, s = (ALICE4, 5060), (BOB4, 5060)
    udp_call(cap, Call("gtp-1", "UDP", c, s), msgs=("invite", "trying", "ringing", "ok"))
    udp_call(cap, Call("gtp-2", "UDP", (ALICE6, 5060), (BOB6, 5060)),
             gtpu_wrap(outer, 0x11223345, "seq"), msgs=("invite", "trying", "ringing"))
    conn = TcpConn(cap, (ALICE4, 45678), s, wrap=gtpu_wrap(outer, 0x11223346, "ext"))
    conn.handshake()
    reg = Call("gtp-3", "TCP", (ALICE4, 45678), s)
    conn.push(0, reg.request("REGISTER", uri="sip:example.com"))
    conn.push(1, reg.ok("REGISTER"))
    conn.close()
    return cap


@capture
def tun_depth():
    cap = Capture("tun_depth", "Encapsulation depth: SIP under 8 nested IP-in-IP layers (the "
                  "default decode.max_depth) is sent; under 9 it is counted as "
                  "decode.encap_too_deep and not sent.", wrap=nested_ipip_wrap(8))
    c, s = (ALICE4, 5060), (BOB4, 5060)
    call = Call("depth-1", "UDP", c, s)
    cap.udp_msg(*c, *s, call.invite())
    call = Call("depth-2", "UDP", c, s)
    cap.udp_msg(*c, *s, call.invite(), wrap=nested_ipip_wrap(9), expect=False)
    cap.testlist = "--tshark 2 --stat decode.encap_too_deep=1"
    return cap


# ---- link types --------------------------------------------------------------

def link_capture(name, doc, linktype, wrap, endian="<", v6_too=True, tcp_too=True):
    cap = Capture(name, doc, linktype=linktype, wrap=wrap, endian=endian)
    c, s = (ALICE4, 5060), (BOB4, 5060)
    udp_call(cap, Call(name + "-udp", "UDP", c, s), msgs=("invite", "trying", "ringing", "ok"))
    if v6_too:
        udp_call(cap, Call(name + "-udp6", "UDP", (ALICE6, 5060), (BOB6, 5060)),
                 msgs=("invite", "trying"))
    if tcp_too:
        conn = TcpConn(cap, (ALICE4, 45678), s)
        conn.handshake()
        opt = Call(name + "-tcp", "TCP", (ALICE4, 45678), s)
        conn.push(0, opt.request("OPTIONS"))
        conn.push(1, opt.ok("OPTIONS"))
        conn.close()
    return cap


@capture
def lt_sll():
    return link_capture("lt_sll", "Linux cooked capture v1 (113), incoming and outgoing.",
                        LT_SLL, sll_wrap)


@capture
def lt_sll2():
    return link_capture("lt_sll2", "Linux cooked capture v2 (276).", LT_SLL2, sll2_wrap)


@capture
def lt_null_le():
    return link_capture("lt_null_le", "BSD loopback NULL (0), little-endian file and address "
                        "family (AF_INET 2, AF_INET6 30).", LT_NULL, null_wrap("<"))


@capture
def lt_null_be():
    return link_capture("lt_null_be", "BSD loopback NULL (0) from a big-endian host: file and "
                        "address family big-endian.", LT_NULL, null_wrap(">"), endian=">")


@capture
def lt_loop():
    return link_capture("lt_loop", "OpenBSD loopback LOOP (108): address family in network "
                        "order (AF_INET 2, AF_INET6 24).", LT_LOOP, loop_wrap)


@capture
def lt_raw():
    cap = link_capture("lt_raw", "Raw IP (101), IPv4 and IPv6; one IPv4 header with options "
                       "(NOP, NOP, Router Alert... padded: 8 bytes).", LT_RAW, raw_wrap)
    c, s = (ALICE4, 5060), (BOB4, 5060)
    opt = Call("lt_raw-opt", "UDP", c, s)
    payload = opt.request("OPTIONS")
    pkt = ipv4(c[0], s[0], P_UDP, udp(c[0], s[0], c[1], s[1], payload), ident=0x99,
               options=b"\x01\x01\x94\x04\x00\x00\x01\x00")
    ts = cap.send(pkt)
    cap.expect(payload, c[0], s[0], c[1], s[1], P_UDP, ts)
    return cap


@capture
def lt_raw12():
    return link_capture("lt_raw12", "Raw IP with the DLT_RAW number 12, as some writers use.",
                        LT_RAW12, raw_wrap)


@capture
def lt_ipv4():
    return link_capture("lt_ipv4", "LINKTYPE_IPV4 (228): IPv4 only.", LT_IPV4, raw_wrap,
                        v6_too=False)


@capture
def lt_ipv6():
    cap = Capture("lt_ipv6", "LINKTYPE_IPV6 (229): SIP over UDP and TCP on IPv6; one datagram "
                  "behind a Destination Options header.", linktype=LT_IPV6, wrap=raw_wrap)
    c, s = (ALICE6, 5060), (BOB6, 5060)
    udp_call(cap, Call("lt_ipv6-udp", "UDP", c, s), msgs=("invite", "trying", "ringing"))
    conn = TcpConn(cap, (ALICE6, 45678), s)
    conn.handshake()
    opt = Call("lt_ipv6-tcp", "TCP", (ALICE6, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    conn.close()
    payload = opt.request("MESSAGE", body=b"behind a destination options header",
                          ctype="text/plain")
    dst_opts = struct.pack("!BB", P_UDP, 0) + b"\x01\x04\x00\x00\x00\x00"  # PadN
    pkt = ipv6(c[0], s[0], P_DSTOPTS, dst_opts + udp(c[0], s[0], c[1], s[1], payload))
    ts = cap.send(pkt)
    cap.expect(payload, c[0], s[0], c[1], s[1], P_UDP, ts)
    return cap


@capture
def lt_eth_ipv6():
    cap = Capture("lt_eth_ipv6", "Ethernet with IPv6: a call over UDP, OPTIONS over TCP.")
    c, s = (ALICE6, 5060), (BOB6, 5060)
    udp_call(cap, Call("eth6-udp", "UDP", c, s))
    conn = TcpConn(cap, (ALICE6, 45678), s)
    conn.handshake()
    opt = Call("eth6-tcp", "TCP", (ALICE6, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    conn.close()
    return cap


@capture
def lt_wlan():
    return link_capture("lt_wlan", "IEEE 802.11 data frames (105) with LLC/SNAP, to-DS and "
                        "from-DS.", LT_IEEE802_11, wlan_wrap)


@capture
def lt_radiotap():
    return link_capture("lt_radiotap", "Radiotap (127) + 802.11 QoS data frames with LLC/SNAP "
                        "and a frame check sequence at the end (radiotap flag 0x10).",
                        LT_RADIOTAP, radiotap_wrap)


@capture
def lt_multi_if():
    cap = Capture("lt_multi_if", "pcapng with four interfaces of different link types: "
                  "Ethernet, Linux SLL, raw IP, and SLL2 with nanosecond timestamps "
                  "(if_tsresol 9). One call's messages seen on each in turn; a TCP "
                  "connection on the raw interface.", fmt="pcapng",
                  interfaces=[(LT_ETHERNET, "eth0", 6), (LT_SLL, "any", 6), (LT_RAW, "tun0", 6),
                              (LT_SLL2, "any2", 9)])
    wraps = [eth_wrap(), sll_wrap, raw_wrap, sll2_wrap]
    c, s = (ALICE4, 5060), (BOB4, 5060)
    call = Call("multi-1", "UDP", c, s)
    msgs = [(True, call.invite()), (False, call.trying()), (False, call.ringing()),
            (False, call.ok_invite()), (True, call.ack()), (True, call.bye()),
            (False, call.ok("BYE"))]
    for i, (fwd, payload) in enumerate(msgs):
        src, dst = (c, s) if fwd else (s, c)
        cap.udp_msg(*src, *dst, payload, fwd, wraps[i % 4], interface=i % 4)
    conn = TcpConn(cap, (ALICE4, 45678), s, wrap=raw_wrap, interface=2)
    conn.handshake()
    opt = Call("multi-2", "TCP", (ALICE4, 45678), s)
    conn.push(0, opt.request("OPTIONS"))
    conn.push(1, opt.ok("OPTIONS"))
    conn.close()
    return cap


@capture
def lt_multi_if_be():
    cap = Capture("lt_multi_if_be", "pcapng written big-endian, two interfaces (Ethernet, "
                  "raw IPv6).", fmt="pcapng", endian=">",
                  interfaces=[(LT_ETHERNET, "eth0", 6), (LT_RAW, "tun0", 6)])
    c, s = (ALICE4, 5060), (BOB4, 5060)
    call = Call("multibe-1", "UDP", c, s)
    cap.udp_msg(*c, *s, call.invite())
    cap.udp_msg(*s, *c, call.trying(), False)
    call6 = Call("multibe-2", "UDP", (ALICE6, 5060), (BOB6, 5060))
    cap.udp_msg(ALICE6, 5060, BOB6, 5060, call6.invite(), wrap=raw_wrap, interface=1)
    cap.udp_msg(BOB6, 5060, ALICE6, 5060, call6.trying(), False, wrap=raw_wrap, interface=1)
    return cap


# ---- output ------------------------------------------------------------------

def write_all(out):
    os.makedirs(out, exist_ok=True)
    manifest = ["# Generated captures", "",
                "Written by `tests/tools/gen_captures.py` (do not edit; re-run it). Each "
                "`NAME.expected.jsonl` lists the SIP messages hepagent must send for "
                "`NAME.pcap`/`.pcapng`: exact bytes, innermost addresses, ports and VLAN, "
                "capture time of the first byte. Addresses are documentation prefixes "
                "(RFC 5737, RFC 3849).", "",
                "| capture | messages | what it holds |", "|---|---|---|"]
    testlist = []
    for fn in CAPTURES:
        cap = fn()
        cap.finish()
        ext = "pcapng" if cap.fmt == "pcapng" else "pcap"
        data = pcapng_bytes(cap) if cap.fmt == "pcapng" else pcap_bytes(cap)
        with open(os.path.join(out, "%s.%s" % (cap.name, ext)), "wb") as f:
            f.write(data)
        with open(os.path.join(out, cap.name + ".expected.jsonl"), "w") as f:
            for e in cap.expected:
                f.write(json.dumps(e, sort_keys=True) + "\n")
        manifest.append("| `%s.%s` | %d | %s |" % (cap.name, ext, len(cap.expected), cap.doc))
        flags = cap.testlist or ""
        if cap.rules:
            flags += " -- -c " + cap.rules
        testlist.append(("generated/%s.%s" % (cap.name, ext), len(cap.expected), flags.strip()))
    with open(os.path.join(out, "MANIFEST.md"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    return testlist


def check_generated(write, directory, what, keep=lambda name: True):
    """Generates with write(dir) into a temporary directory and compares the
    files with directory's (those keep() selects) byte for byte; 0 when equal."""
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp)
        want = sorted(os.listdir(tmp))
        have = sorted(n for n in os.listdir(directory) if n in want or keep(n))
        errors = ["missing: " + n for n in want if n not in have]
        errors += ["not generated: " + n for n in have if n not in want]
        errors += ["differs: " + n for n in want if n in have and
                   not filecmp.cmp(os.path.join(tmp, n), os.path.join(directory, n),
                                   shallow=False)]
    if errors:
        print("%s (re-run it and commit):\n  %s" % (what, "\n  ".join(errors)))
        return 1
    print("ok: %d files identical" % len(want))
    return 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["--check"] and len(args) == 2:
        return check_generated(write_all, args[1],
                               "generated captures are not what gen_captures.py makes")
    out = DEFAULT_OUT
    if args[:1] == ["--out"] and len(args) == 2:
        out = args[1]
    elif args:
        print(__doc__)
        return 2
    for path, count, flags in write_all(out):
        print("%-48s %-4d %s" % (path, count, flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
