#!/usr/bin/env python3
"""Turns a SIP-over-TCP capture into the same calls over TLS 1.3, with a key
log, for the TLS part of scripts/bench.sh (deterministic: same input, same
output).

  tlsify.py INPUT.pcap OUTPUT.pcap OUTPUT.keys [--meta IN.json OUT.json]

Every TCP connection (Ethernet/IPv4, the side that sent the SYN is the
client) gets a TLS 1.3 handshake before its first data: a ClientHello with a
client random of its own, a ServerHello choosing TLS_AES_128_GCM_SHA256 and
the server's EncryptedExtensions and Finished in one record protected with
its handshake traffic key, then the client's Finished in front of its first
data. Each data segment becomes one application_data record (its payload,
protected with the direction's traffic key), so segmentation and timing stay
the recording's; sequence and acknowledgement numbers, lengths and checksums
are rewritten. The four traffic secrets of each connection are derived from
its index (SHA-256), written to the key log as CLIENT_HANDSHAKE_TRAFFIC_SECRET,
SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0 and
SERVER_TRAFFIC_SECRET_0 lines, and expanded into keys here with
HKDF-Expand-Label (hmac/hashlib) and AES-GCM from python3-cryptography: an
implementation independent of hepagent's (OpenSSL EVP).
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "tools"))
import pcapfile  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replicate import checksum  # noqa: E402


def expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack(">H", length) + bytes([len(full)]) + full + b"\0"
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(secret, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


class Protect:
    """One direction's record protection (RFC 8446 5.2, 5.3)."""

    def __init__(self, secret):
        self.aead = AESGCM(expand_label(secret, b"key", 16))
        self.iv = int.from_bytes(expand_label(secret, b"iv", 12), "big")
        self.seq = 0

    def record(self, inner_type, plaintext):
        nonce = (self.iv ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        body = plaintext + bytes([inner_type])
        header = b"\x17\x03\x03" + struct.pack(">H", len(body) + 16)
        return header + self.aead.encrypt(nonce, body, header)


def handshake(msg_type, body):
    return bytes([msg_type]) + struct.pack(">I", len(body))[1:] + body


def client_hello(random, sid):
    ext = struct.pack(">HHB", 43, 3, 2) + b"\x03\x04"  # supported_versions: TLS 1.3
    body = (b"\x03\x03" + random + bytes([len(sid)]) + sid + b"\x00\x02\x13\x01" + b"\x01\x00" +
            struct.pack(">H", len(ext)) + ext)
    hs = handshake(1, body)
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def server_hello(random, sid):
    ext = struct.pack(">HH", 43, 2) + b"\x03\x04"
    body = (b"\x03\x03" + random + bytes([len(sid)]) + sid + b"\x13\x01" + b"\x00" +
            struct.pack(">H", len(ext)) + ext)
    hs = handshake(2, body)
    return b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs


class Conn:
    def __init__(self, index, keylog):
        seed = lambda what: hashlib.sha256(b"hepagent bench %d %s" % (index, what)).digest()  # noqa
        self.random = seed(b"client random")
        self.server_random = seed(b"server random")
        self.sid = seed(b"session id")
        secrets = {name: seed(name.encode()) for name in (
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")}
        for name, secret in secrets.items():
            keylog.write("%s %s %s\n" % (name, self.random.hex(), secret.hex()))
        self.hs = [Protect(secrets["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]),
                   Protect(secrets["SERVER_HANDSHAKE_TRAFFIC_SECRET"])]
        self.app = [Protect(secrets["CLIENT_TRAFFIC_SECRET_0"]),
                    Protect(secrets["SERVER_TRAFFIC_SECRET_0"])]
        self.delta = [0, 0]      # bytes added so far, per direction
        self.started = False     # the TLS handshake was put in
        self.client_done = False  # the client's Finished was sent
        self.template = [None, None]  # a frame of each direction, for new frames


def rewrite(frame, l3, l4, seq, ack, payload, flags=None):
    """frame with TCP sequence/ack numbers and payload replaced, lengths and
    checksums recomputed."""
    thl = (frame[l4 + 12] >> 4) * 4
    head = bytearray(frame[:l4 + thl])
    struct.pack_into("!II", head, l4 + 4, seq & 0xffffffff, ack & 0xffffffff)
    if flags is not None:
        head[l4 + 13] = flags
    total = (l4 - l3) + thl + len(payload)
    struct.pack_into("!H", head, l3 + 2, total)
    head[l3 + 10:l3 + 12] = b"\0\0"
    head[l3 + 10:l3 + 12] = checksum(bytes(head[l3:l4]))
    tcp = head[l4:] + payload
    tcp[16:18] = b"\0\0"
    pseudo = bytes(head[l3 + 12:l3 + 20]) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp[16:18] = checksum(pseudo + bytes(tcp))
    return bytes(head[:l4]) + bytes(tcp)


def main():
    src, dst, keys = sys.argv[1:4]
    pcap = pcapfile.read_pcap_file(src)
    if pcap is None or pcap.linktype != 1:
        sys.exit("tlsify: %s: a classic Ethernet pcap is needed" % src)
    e = pcap.endian
    rec_hdr = struct.Struct(e + "IIII")
    conns = {}
    out = open(dst, "wb")
    keylog = open(keys, "w")
    os.chmod(keys, 0o600)
    out.write(pcap.header)
    chunks, frames = [], 0

    def emit(r, frame):
        nonlocal frames
        chunks.append(rec_hdr.pack(r.sec, r.frac, len(frame), len(frame)) + frame)
        frames += 1

    for r in pcap.records:
        f = r.frame
        if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6:
            emit(r, f)
            continue
        l3, l4 = 14, 14 + (f[14] & 15) * 4
        total = struct.unpack_from("!H", f, 16)[0]
        sport, dport, seq, ack = struct.unpack_from("!HHII", f, l4)
        flags = f[l4 + 13]
        payload = f[l4 + (f[l4 + 12] >> 4) * 4:14 + total]
        a, b = (f[26:30], sport), (f[30:34], dport)
        key = (a, b) if a < b else (b, a)
        c = conns.get(key)
        if c is None:
            if not (flags & 0x02) or (flags & 0x10):
                emit(r, f)  # not a connection whose start we saw
                continue
            c = conns[key] = Conn(len(conns), keylog)
            c.client = a
        d = 0 if a == c.client else 1
        c.template[d] = (f, l3, l4)
        if payload and not c.started:
            # the handshake goes in before the connection's first data
            c.started = True
            cf, cl3, cl4 = c.template[0]
            sf = c.template[1]
            if sf is None:
                sys.exit("tlsify: a connection without the server's SYN-ACK")
            sf, sl3, sl4 = sf
            c_seq = (seq + c.delta[0]) if d == 0 else (ack + c.delta[0])
            s_seq = (ack + c.delta[1]) if d == 0 else (seq + c.delta[1])
            ch = client_hello(c.random, c.sid)
            emit(r, rewrite(cf, cl3, cl4, c_seq, s_seq, ch, 0x18))
            c.delta[0] += len(ch)
            sh = server_hello(c.server_random, c.sid) + c.hs[1].record(
                22, handshake(8, b"\0\0") + handshake(20, bytes(32)))
            emit(r, rewrite(sf, sl3, sl4, s_seq, c_seq + len(ch), sh, 0x18))
            c.delta[1] += len(sh)
        if payload:
            tls = b""
            if d == 0 and not c.client_done:
                tls = c.hs[0].record(22, handshake(20, bytes(32)))
                c.client_done = True
            tls += c.app[d].record(23, payload)
            new_seq, new_ack = seq + c.delta[d], ack + c.delta[1 - d]
            c.delta[d] += len(tls) - len(payload)
            emit(r, rewrite(f, l3, l4, new_seq, new_ack, tls))
        else:
            # SYN, FIN, pure ACK: numbers moved by what was added before
            syn = flags & 0x02
            new_seq = seq + (0 if syn else c.delta[d])
            new_ack = ack + (c.delta[1 - d] if flags & 0x10 and c.started else 0)
            emit(r, rewrite(f, l3, l4, new_seq, new_ack, b""))
        if len(chunks) > 20000:
            out.write(b"".join(chunks))
            chunks = []
    out.write(b"".join(chunks))
    out.close()
    keylog.close()
    if "--meta" in sys.argv:
        i = sys.argv.index("--meta")
        meta = json.load(open(sys.argv[i + 1]))
        meta.update({"records": frames, "transport": "tls", "tls_connections": len(conns),
                     "input": src, "output": dst})
        with open(sys.argv[i + 2], "w") as m:
            json.dump(meta, m, sort_keys=True)
            m.write("\n")
    print("tlsify: %d frames, %d TLS connections" % (frames, len(conns)))


if __name__ == "__main__":
    main()
