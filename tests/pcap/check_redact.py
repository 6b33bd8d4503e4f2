#!/usr/bin/env python3
"""Redaction over every SIP message of the test captures.

usage: check_redact.py BUILD_DIR [CAPTURE...]   (default: every capture of
       tests/pcap/corpus and tests/pcap/generated)

Each capture is sent twice through hepagent (-r, no collector, --hep-pcap):
once with bodies blanked only, once with a redacting rule (hash mode over
every header, Call-ID too, every body blanked); the i-th packet of one run
is the i-th of the other. Checked:
  * the redacted run sends the same number of messages, each of which
    still parses as SIP here and in tshark (from the -w file hepagent wrote
    with frames made for the redacted messages: tshark must find as many SIP
    messages and flag nothing as malformed);
  * no user part of a URI in the redacted headers of the original (3
    characters or more) is left anywhere in the redacted message, nor the
    Call-ID;
  * the same user part always became the same pseudonym, and different ones
    different pseudonyms, across all the captures.
The URI scan here is written apart from agent/redact.c on purpose.
"""
import glob
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import pcapfile  # noqa: E402

URI = re.compile(rb"(?i)(?<![a-z0-9])(sips?|tel):([^@>;\s\",]+)(@)?")


def hep_payloads(path):
    out = []
    cap = pcapfile.read_pcap_file(path)
    if cap is None:
        return out
    for r in cap.records:
        f = r.frame
        ihl = (f[14] & 15) * 4 if f[12:14] == b"\x08\x00" else 40
        b = f[14 + ihl + 8:]
        off = 6
        while off < len(b):
            v, t, n = struct.unpack(">HHH", b[off:off + 6])
            if v == 0 and t == 0x0f:
                out.append(b[off + 6:off + n])
            off += n
    return out


def headers(msg):
    head = msg.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = re.split(rb"\r?\n", head)
    out = [(b"request-uri", lines[0])]
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            out.append((name.strip().lower(), value))
    return out


def users(msg):
    """User parts of the URIs in every header (Via, Call-ID apart) and the Request-URI."""
    found = []
    for name, value in headers(msg):
        if name in (b"via", b"v", b"call-id", b"i"):
            continue
        if name == b"request-uri" and value.startswith(b"SIP/2.0"):
            continue
        for m in URI.finditer(value):
            scheme, user, at = m.group(1).lower(), m.group(2), m.group(3)
            if scheme == b"tel" or at:
                found.append(user.split(b";")[0].split(b":")[0])
    return found


def call_id(msg):
    for name, value in headers(msg):
        if name in (b"call-id", b"i"):
            return value.strip()
    return b""


def run(build, caps, cfg, hep_out, write=None):
    args = [os.path.join(build, "hepagent"), "-c", cfg, "--hep-pcap", hep_out, "-q"]
    for c in caps:
        args += ["-r", c]
    if write:
        args += ["-w", write]
    p = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        sys.exit("hepagent exited %d: %s" % (p.returncode, p.stderr.decode()[-300:]))


def tshark_sip_count(path):
    # SIP over TCP on other ports (WebSocket's, in the frames made for them) is
    # found by tshark's SIP heuristic, tried first
    p = subprocess.run(["tshark", "-n", "-o", "tcp.try_heuristic_first:TRUE", "-o",
                        "udp.try_heuristic_first:TRUE", "-r", path, "-T", "fields",
                        "-e", "sip.Call-ID",
                        "-e", "_ws.malformed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    rows = [l for l in p.stdout.decode("latin1").splitlines()]
    malformed = [l for l in rows if l.split("\t")[-1]]
    return sum(1 for l in rows if l.split("\t")[0]), len(malformed)


def main():
    build = os.path.abspath(sys.argv[1])
    caps = sys.argv[2:] or sorted(
        glob.glob(os.path.join(REPO, "tests/pcap/corpus/**/*.pcap*"), recursive=True) +
        glob.glob(os.path.join(REPO, "tests/pcap/generated/*.pcap*")))
    tmp = tempfile.mkdtemp(prefix="hepagent-redact.")
    plain_cfg, red_cfg = os.path.join(tmp, "plain.json"), os.path.join(tmp, "redact.json")
    rule = {"name": "all"}
    # "plain": bodies blanked as in the redacted run (so a message too big for
    # HEP with its body is sent by both runs), nothing else touched
    plain = dict(rule, redact={"mode": "mask", "headers": ["X-Not-There"],
                               "bodies": {"*": "blank"}})
    json.dump({"rules": [plain], "collectors": []}, open(plain_cfg, "w"))
    red = dict(rule, redact={"key": "corpus-test-key-0123456789", "call_id": True,
                             "bodies": {"*": "blank"}})
    json.dump({"rules": [red], "collectors": []}, open(red_cfg, "w"))
    pseudonym, origin = {}, {}
    total = checked_users = 0
    # all captures in one run each (files are read in order), so the pairs line up
    a, b, w = (os.path.join(tmp, x) for x in ("a.pcap", "b.pcap", "w.pcapng"))
    run(build, caps, plain_cfg, a)
    run(build, caps, red_cfg, b, w)
    plain, redacted = hep_payloads(a), hep_payloads(b)
    name = "%d captures" % len(caps)
    if len(plain) != len(redacted) or not plain:
        sys.exit("%d messages plain, %d redacted" % (len(plain), len(redacted)))
    n, bad = tshark_sip_count(w)
    if n != len(redacted) or bad:
        sys.exit("tshark finds %d SIP messages in the -w file (want %d), %d malformed" %
                 (n, len(redacted), bad))
    for i, (p, r) in enumerate(zip(plain, redacted)):
        where = "%s message %d" % (name, i + 1)
        if not re.match(rb"^(SIP/2\.0 \d{3}[^\r\n]*|[!-~]+ \S+ SIP/2\.0)\r?\n", r):
            sys.exit("%s: no SIP start line after redaction" % where)
        m = re.search(rb"(?im)^(content-length|l)[ \t]*:[ \t]*(\d+)", r)
        body = re.split(rb"\r?\n\r?\n", r, 1)
        if m and int(m.group(2)) != (len(body[1]) if len(body) > 1 else 0):
            sys.exit("%s: Content-Length %s, body %d bytes" % (where, m.group(2), len(body[1])))
        cid = call_id(p)
        if len(cid) >= 3 and cid in r:
            sys.exit("%s: the Call-ID is still there" % where)
        before, after = users(p), users(r)
        if len(before) != len(after):
            sys.exit("%s: %d URI user parts before, %d after" % (where, len(before),
                                                                 len(after)))
        for u in before:
            if len(u) >= 3 and u in r:
                sys.exit("%s: %r is still in the message" % (where, u))
        for u, v in zip(before, after):
            key = u.lstrip(b"+")
            if pseudonym.setdefault(key, v.lstrip(b"+")) != v.lstrip(b"+"):
                sys.exit("%s: %r became %r here, %r before" % (where, u, v, pseudonym[key]))
            if origin.setdefault(v.lstrip(b"+"), key) != key:
                sys.exit("%s: %r and %r became the same %r" % (where, u, origin[v], v))
            checked_users += 1
    total = len(plain)
    print("%d messages of %d captures redacted: valid SIP, no user part or Call-ID left, "
          "%d user parts mapped to %d pseudonyms, one each" %
          (total, len(caps), checked_users, len(pseudonym)))


if __name__ == "__main__":
    main()
