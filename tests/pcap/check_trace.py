#!/usr/bin/env python3
"""The console trace of one capture: `hepagent -A --no-color -q -r CAPTURE`
must print exactly the committed text, each printed message must be the SIP
text tshark decodes from the capture (escaped the same way, written here
independently), the frames -w wrote must hold the same SIP messages when
tshark re-reads them, and the HEP packets --hep-pcap wrote must decode (tshark's
HEP dissector) to the same messages. With media on (-c media.json), the RTCP
and QOS lines between the messages must be as many as the HEP type 5 and 0x22
packets sent. With --summary (one line per message) the lines are counted
against tshark's messages instead of compared with their text.

usage: check_trace.py BUILD_DIR CAPTURE EXPECTED.txt [--update] [-- hepagent args]
A relative config file in the hepagent args (-c FILE) is taken from tests/pcap;
--calls among them (taken out) keeps the per-call summary at the end (no -q).
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_capture import tshark_messages  # noqa: E402

HEADER = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} (UDP|TCP|WS|SCTP) \S+ -> \S+ "
                    rb"\((\d+) bytes\) .*$")
# a media line: the full trace's date or --summary's time, RTCP or QOS
MEDIA = re.compile(rb"^(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\.\d{6} (RTCP|QOS ) \S+ -> \S+ ")
SUMMARY = re.compile(rb"^\d\d:\d\d:\d\d\.\d{6} (UDP |TCP |WS  |SCTP) \S+ -> \S+ ")


def escape(data):
    """The trace's escaping, written again from its description: CRLF and LF
    are line breaks, tab and printable ASCII stay, valid UTF-8 for code points
    from U+00A0 stays (except line separators and bidi controls), everything
    else is \\xNN."""
    out, i = bytearray(), 0
    while i < len(data):
        c = data[i]
        if c == 13 and i + 1 < len(data) and data[i + 1] == 10:
            out += b"\n"
            i += 2
        elif c in (9, 10) or 32 <= c < 127:
            out.append(c)
            i += 1
        else:
            n = {0xc: 2, 0xd: 2, 0xe: 3, 0xf: 4}.get(c >> 4, 0) if c >= 0xc2 else 0
            ok = False
            if n and c <= 0xf4:
                try:
                    cp = ord(data[i:i + n].decode("utf-8"))
                    ok = cp >= 0xa0 and cp not in (0x2028, 0x2029) and not (
                        0x202a <= cp <= 0x202e) and not (0x2066 <= cp <= 0x2069)
                except (UnicodeDecodeError, TypeError):
                    ok = False
            if ok:
                out += data[i:i + n]
                i += n
            else:
                out += b"\\x%02x" % c
                i += 1
    return bytes(out)


def blocks(text):
    """The printed messages: each header line and the text after it, up to
    the next header (a block ends with one empty line)."""
    found, cur = [], None
    for line in text.split(b"\n"):
        if HEADER.match(line):
            cur = [line, []]
            found.append(cur)
        elif MEDIA.match(line):
            cur = None  # a media line ends the message before it
        elif cur is not None:
            cur[1].append(line)
    return [(h, b"\n".join(body).rstrip(b"\n")) for h, body in found]


def hep_payloads(path, want_type=1):
    """Payloads of the HEP packets of protocol type want_type (1: SIP) in a
    pcap of UDP frames, decoded here independently of hepagent's decoder
    (tshark 4.0 has no HEP dissector)."""
    data = open(path, "rb").read()
    out, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack("<I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ip = 14
        l4 = ip + (40 if frame[12:14] == b"\x86\xdd" else (frame[ip] & 15) * 4)
        hep = frame[l4 + 8:]
        if hep[:4] != b"HEP3" or struct.unpack(">H", hep[4:6])[0] != len(hep):
            out.append(None)
            continue
        pos, payload, ptype = 6, None, None
        while pos + 6 <= len(hep):
            vendor, ctype, clen = struct.unpack(">HHH", hep[pos:pos + 6])
            if vendor == 0 and ctype == 0x0f:
                payload = hep[pos + 6:pos + clen]
            if vendor == 0 and ctype == 0x0b and clen == 7:
                ptype = hep[pos + 6]
            pos += clen
        if ptype == want_type:
            out.append(payload)
    return out


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        i = args.index("--")
        args, extra = args[:i], args[i + 1:]
    update = "--update" in args
    args = [a for a in args if a != "--update"]
    build, capture, expected = args
    for i, a in enumerate(extra[:-1]):
        if a == "-c" and not os.path.isabs(extra[i + 1]):
            extra[i + 1] = os.path.join(os.path.dirname(os.path.abspath(__file__)), extra[i + 1])
    summary = "--summary" in extra
    quiet = [] if "--calls" in extra else ["-q"]
    extra = [a for a in extra if a != "--calls"]
    errors = []
    with tempfile.TemporaryDirectory() as work:
        frames = os.path.join(work, "frames.pcapng")
        hep = os.path.join(work, "hep.pcap")
        r = subprocess.run([os.path.join(build, "hepagent"), "-A", "--no-color"] + quiet + ["-r",
                            capture, "-w", frames, "--hep-pcap", hep] + extra,
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            sys.exit("hepagent exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
        out = r.stdout
        if update:
            open(expected, "wb").write(out)
        want = open(expected, "rb").read()
        if out != want:
            a, b = out.split(b"\n"), want.split(b"\n")
            k = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            errors.append("output differs from %s at line %d:\n    got:  %r\n    want: %r" %
                          (os.path.basename(expected), k + 1, a[k] if k < len(a) else b"<end>",
                           b[k] if k < len(b) else b"<end>"))
        msgs = [f for f in tshark_messages(capture) if f["count"] > 0]
        lines = out.split(b"\n")
        printed = [(l, b"") for l in lines if SUMMARY.match(l)] if summary else blocks(out)
        for kind, ptype in ((b"RTCP", 5), (b"QOS ", 0x22)):
            shown = sum(1 for l in lines if MEDIA.match(l) and MEDIA.match(l).group(1) == kind)
            sent = len(hep_payloads(hep, ptype))
            if shown != sent:
                errors.append("%d %s lines printed, %d HEP packets of type %d sent" %
                              (shown, kind.decode().strip(), sent, ptype))
        if len(printed) != sum(f["count"] for f in msgs):
            errors.append("%d messages printed, tshark finds %d" %
                          (len(printed), sum(f["count"] for f in msgs)))
        elif all(f["count"] == 1 for f in msgs) and not summary:
            for (header, body), f in zip(printed, msgs):
                if body != escape(f["data"]).rstrip(b"\n"):
                    errors.append("frame %d: printed text is not tshark's message:\n%s" %
                                  (f["frame"], header.decode(errors="replace")))
                    break
        rewritten = [f for f in tshark_messages(frames) if f["count"] > 0]
        if [f["data"] for f in rewritten] != [f["data"] for f in msgs]:
            errors.append("-w: tshark finds %d messages in the written frames, %d in the input"
                          " (or they differ)" % (len(rewritten), len(msgs)))
        sent = hep_payloads(hep)
        if all(f["count"] == 1 for f in msgs) and sent != [f["data"] for f in msgs]:
            errors.append("--hep-pcap: %d HEP packets, their payloads are not the input's %d "
                          "messages" % (len(sent), len(msgs)))
    if errors:
        print("FAIL %s:\n  %s" % (capture, "\n  ".join(errors)))
        sys.exit(1)
    print("ok %s: %d messages printed, written and HEP-encoded as tshark sees them" %
          (capture, len(printed)))


if __name__ == "__main__":
    main()
