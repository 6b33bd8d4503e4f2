#!/usr/bin/env python3
"""Writes the malformed-HEP corpus: one file per case, named REASON__what.bin,
REASON being the counter agent/hepin.c must give it ("ok" for inputs that must
pass: vendor chunks, EEP3, HEPv1/v2). test_hepin checks every file against its
name; e2e_relay throws the files at a live listener; the fuzzers start from them.

usage: gen_hep_malformed.py OUTDIR     (deterministic; --check OUTDIR compares)
"""
import ipaddress
import os
import struct
import sys

SIP = (b"INVITE sip:+4930123456@10.0.0.2 SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-mal-1\r\n"
       b"From: <sip:+4930111111@10.0.0.1>;tag=m1\r\n"
       b"To: <sip:+4930123456@10.0.0.2>\r\n"
       b"Call-ID: malformed-1@10.0.0.1\r\n"
       b"CSeq: 1 INVITE\r\n"
       b"Content-Length: 0\r\n\r\n")


def chunk(ctype, data, vendor=0, length=None):
    return struct.pack("!HHH", vendor, ctype, 6 + len(data) if length is None else length) + data


def u8(v): return struct.pack("!B", v)
def u16(v): return struct.pack("!H", v)
def u32(v): return struct.pack("!I", v)


def chunks(v6=False, payload=SIP, skip=(), extra=b"", before_payload=b"", usec=1234):
    """The generic chunks of a valid packet, minus the types in skip."""
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    parts = [
        (0x01, chunk(0x01, u8(10 if v6 else 2))),
        (0x02, chunk(0x02, u8(17))),
        (0x05 if v6 else 0x03, chunk(0x05 if v6 else 0x03, ipaddress.ip_address(src).packed)),
        (0x06 if v6 else 0x04, chunk(0x06 if v6 else 0x04, ipaddress.ip_address(dst).packed)),
        (0x07, chunk(0x07, u16(5060))),
        (0x08, chunk(0x08, u16(5060))),
        (0x09, chunk(0x09, u32(1700000000))),
        (0x0a, chunk(0x0a, u32(usec))),
        (0x0b, chunk(0x0b, u8(1))),
        (0x0c, chunk(0x0c, u32(2001))),
    ]
    body = b"".join(c for t, c in parts if t not in skip) + extra + before_payload
    if 0x0f not in skip:
        body += chunk(0x0f, payload)
    return body


def hep(body, magic=b"HEP3", total=None):
    return magic + u16(6 + len(body) if total is None else total) + body


def v2(version, v6=False, payload=SIP, cut=None):
    fam = 10 if v6 else 2
    src, dst = ("2001:db8::1", "2001:db8::2") if v6 else ("10.0.0.1", "10.0.0.2")
    b = struct.pack("!BBBBHH", version, 0, fam, 17, 5060, 5062)
    b += ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
    if version == 2:
        b += struct.pack("<IIHxx", 1700000000, 250000, 2002)
    b += payload
    return b if cut is None else b[:cut]


def cases():
    good = hep(chunks())
    c = {}
    c["ok__plain_v4"] = good
    c["ok__plain_v6"] = hep(chunks(v6=True))
    c["ok__eep3_magic"] = hep(chunks(), magic=b"EEP3")
    c["ok__vendor_chunks_kept"] = hep(chunks(extra=chunk(0x0001, b"\x07", vendor=2) +
                                             chunk(0x0099, b"x" * 40, vendor=7) +
                                             chunk(0x0050, b"unknown generic")))
    c["ok__vendor_chunk_repeated"] = hep(chunks(extra=chunk(0x20, b"a", vendor=3) * 3))
    c["ok__no_usec_no_capture_id"] = hep(chunks(skip=(0x0a, 0x0c)))
    c["ok__payload_not_last"] = hep(chunks(skip=(0x0f,)) + chunk(0x0f, SIP) + chunk(0x13, b"n1"))
    c["ok__rtcp_json"] = hep(chunks(payload=b'{"type":200,"ssrc":1}').replace(
        chunk(0x0b, u8(1)), chunk(0x0b, u8(5))))
    c["ok__hepv1"] = v2(1)
    c["ok__hepv2"] = v2(2)
    c["ok__hepv2_ipv6"] = v2(2, v6=True)
    c["bad_magic__http"] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    c["bad_magic__hep2_text"] = b"HEP2" + good[4:]
    c["bad_magic__zeros"] = bytes(64)
    c["too_short__three_bytes"] = b"HEP"
    c["too_short__header_cut"] = b"HEP3\x00"
    c["length_mismatch__longer_than_datagram"] = hep(chunks(), total=len(good) + 1)
    c["length_mismatch__shorter_than_datagram"] = hep(chunks(), total=len(good) - 1)
    c["length_mismatch__below_header"] = hep(chunks(), total=4)
    c["length_mismatch__trailing_garbage"] = good + b"\x00\x00\x00"
    c["chunk_overrun__header_cut"] = hep(chunks() + b"\x00\x00\x00")
    c["chunk_overrun__past_end"] = hep(chunks(skip=(0x0f,)) + chunk(0x0f, SIP, length=len(SIP) + 7))
    c["chunk_too_short__len5"] = hep(chunks(skip=(0x0f,)) + chunk(0x0f, b"", length=5) + b"x" * 3)
    c["chunk_too_short__len0"] = hep(chunk(0x01, b"\x02", length=0) + chunks(skip=(0x01,)))
    c["empty_payload__len6"] = hep(chunks(skip=(0x0f,)) + chunk(0x0f, b""))
    c["chunk_bad_size__family_2_bytes"] = hep(chunk(0x01, b"\x00\x02") + chunks(skip=(0x01,)))
    c["chunk_bad_size__port_1_byte"] = hep(chunk(0x07, b"\x13") + chunks(skip=(0x07,)))
    c["chunk_bad_size__ipv4_in_16"] = hep(chunk(0x03, bytes(16)) + chunks(skip=(0x03,)))
    c["chunk_bad_size__capture_id_2"] = hep(chunk(0x0c, b"\x07\xd1") + chunks(skip=(0x0c,)))
    c["chunk_bad_size__mac_6"] = hep(chunks(extra=chunk(0x14, bytes(6))))
    c["chunk_bad_size__relay_path_3"] = hep(chunks(extra=chunk(0x5250, b"abc", vendor=0x4841)))
    c["chunk_duplicate__two_ports"] = hep(chunks(extra=chunk(0x07, u16(5061))))
    c["chunk_duplicate__two_capture_ids"] = hep(chunks(extra=chunk(0x0c, u32(9))))
    c["chunk_duplicate__two_correlation_ids"] = hep(chunks(extra=chunk(0x11, b"a") + chunk(0x11, b"b")))
    c["two_payloads__plain_and_zlib"] = hep(chunks(extra=chunk(0x10, b"x\x9c\x03\x00\x00\x00\x00\x01")))
    c["chunk_duplicate__two_payloads"] = hep(chunks(extra=chunk(0x0f, SIP)))
    for t, name in ((0x01, "family"), (0x02, "ip_proto"), (0x03, "src_ip"), (0x04, "dst_ip"),
                    (0x07, "src_port"), (0x08, "dst_port"), (0x09, "ts_sec"), (0x0b, "proto_type"),
                    (0x0f, "payload")):
        c["missing_chunk__" + name] = hep(chunks(skip=(t,)))
    c["missing_chunk__no_chunks"] = hep(b"")
    c["bad_family__7"] = hep(chunk(0x01, b"\x07") + chunks(skip=(0x01,)))
    c["bad_addresses__v4_family_v6_addrs"] = hep(chunks(extra=chunk(0x05, bytes(16))))
    c["bad_addresses__v6_family_v4_addrs"] = hep(chunks(v6=True, extra=chunk(0x03, bytes(4))))
    c["proto_type_zero__0"] = hep(chunk(0x0b, b"\x00") + chunks(skip=(0x0b,)))
    c["bad_usec__million"] = hep(chunks(usec=1000000))
    c["v2_truncated__no_payload"] = v2(2, payload=b"")
    c["too_short__v2_header_cut"] = v2(2, cut=7)
    c["v2_truncated__addresses_cut"] = v2(2, v6=True, cut=30)
    c["bad_family__v2_family_3"] = b"\x02\x00\x03\x11" + v2(2)[4:]
    c["v2_not_sip__text"] = v2(2, payload=b"hello there\r\n")
    # fits a UDP datagram (65507) as v2, not 65535 once converted (Call-ID added)
    big = SIP[:-4] + b"X: " + b"A" * (65450 - len(SIP) - 3) + b"\r\n\r\n"
    c["v2_too_big__65478"] = v2(2, payload=big)
    return c


def main():
    check = sys.argv[1] == "--check"
    out = sys.argv[2] if check else sys.argv[1]
    want = {name + ".bin": blob for name, blob in cases().items()}
    if check:
        have = set(os.listdir(out))
        bad = sorted(set(want) ^ have)
        bad += [n for n in want if n in have and open(os.path.join(out, n), "rb").read() != want[n]]
        if bad:
            print("differs from gen_hep_malformed.py:", " ".join(bad))
            return 1
        print("%d files as generated" % len(want))
        return 0
    os.makedirs(out, exist_ok=True)
    for n, blob in want.items():
        with open(os.path.join(out, n), "wb") as f:
            f.write(blob)
    print("%d files written to %s" % (len(want), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
