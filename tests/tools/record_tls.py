#!/usr/bin/env python3
"""Records SIP over TLS on loopback with its key log, for the TLS capture tests.

usage: record_tls.py OUTDIR [CASE...]      (root: tcpdump captures on lo)
       record_tls.py --list
       record_tls.py --child PORT CASE KEYLOG CERT KEY   (the exchange alone, no
           capture; with RECORD_TLS_EXPECTED=FILE it lists the SIP messages sent)

Each case writes OUTDIR/CASE.pcap (tcpdump -i lo, the one TCP port of the
case) and OUTDIR/CASE.keys (the NSS key log the TLS library wrote). Live
recording is not byte-reproducible (keys and randoms are fresh each time),
so the outputs are committed and tests/pcap/tls/MANIFEST.md says how they
were made; run this again only to add or renew a case.

The SIP exchanges (a call with its INVITE over two records, two responses in
one record, ACK and BYE in one record, a MESSAGE whose 20 KB body spans two
records) run between a Python ssl server and client in this process, with
keylog_filename; the TLS 1.3 suite is chosen through an OpenSSL config file
(OPENSSL_CONF, Ciphersuites=), as Python has no call for it. KeyUpdate
needs `openssl s_server` / `s_client` (their "k"/"K" commands), which this
script drives through pipes. The server listens on the first free port from
5061 (tshark's default for SIP over TLS). Python 3 standard library and the
openssl and tcpdump commands only.
"""
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sip(start, call_id, cseq, extra="", body=b""):
    head = ("%s\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-%s-%s\r\n"
            "From: <sip:alice@sip.test>;tag=a1\r\nTo: <sip:bob@sip.test>\r\n"
            "Call-ID: %s\r\nCSeq: %s\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n"
            % (start, call_id, cseq.replace(" ", ""), call_id, cseq, extra, len(body)))
    return head.encode() + body


SDP = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n")


def call_messages(tag):
    """The client's and server's messages of one call, in the order they go."""
    cid = "%s@127.0.0.1" % tag
    invite = sip("INVITE sip:bob@sip.test SIP/2.0", cid, "1 INVITE",
                 "Contact: <sip:alice@127.0.0.1;transport=tls>\r\n"
                 "Content-Type: application/sdp\r\n", SDP)
    trying = sip("SIP/2.0 100 Trying", cid, "1 INVITE")
    ringing = sip("SIP/2.0 180 Ringing", cid, "1 INVITE")
    ok = sip("SIP/2.0 200 OK", cid, "1 INVITE", "Content-Type: application/sdp\r\n", SDP)
    ack = sip("ACK sip:bob@sip.test SIP/2.0", cid, "1 ACK")
    big = sip("MESSAGE sip:bob@sip.test SIP/2.0", cid, "2 MESSAGE",
              "Content-Type: text/plain\r\n", (b"0123456789abcdef" * 1250))
    ok_msg = sip("SIP/2.0 200 OK", cid, "2 MESSAGE")
    bye = sip("BYE sip:bob@sip.test SIP/2.0", cid, "3 BYE")
    ok_bye = sip("SIP/2.0 200 OK", cid, "3 BYE")
    half = len(invite) // 2
    # (side, [records], [messages]): each record is one SSL write
    return [("c", [invite[:half], invite[half:]], [invite]),
            ("s", [trying + ringing], [trying, ringing]), ("s", [ok], [ok]),
            ("c", [ack], [ack]), ("c", [big], [big]), ("s", [ok_msg], [ok_msg]),
            ("c", [bye], [bye]), ("s", [ok_bye], [ok_bye])]


def ws_frame(payload, masked):
    head = bytes([0x81])
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    else:
        head += bytes([mask_bit | 126]) + struct.pack(">H", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def wss_messages(tag):
    """SIP over secure WebSocket: the upgrade, then frames (the client's
    masked), two frames in one record once."""
    upgrade = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n")
    accept = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              b"Sec-WebSocket-Protocol: sip\r\n\r\n")
    out = [("c", [upgrade], []), ("s", [accept], [])]
    for side, records, messages in call_messages(tag):
        frames = b"".join(ws_frame(m, side == "c") for m in messages)
        if len(records) == 2:  # the INVITE: one frame over two records
            out.append((side, [frames[:40], frames[40:]], messages))
        else:  # one record, one frame per message
            out.append((side, [frames], messages))
    return out


CASES = {
    # name: (TLS version, cipher for 1.2 or suite for 1.3, messages, resume)
    "tls12_aes128gcm": ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", call_messages, False),
    "tls12_aes256gcm": ("1.2", "ECDHE-RSA-AES256-GCM-SHA384", call_messages, False),
    "tls12_chacha20": ("1.2", "ECDHE-RSA-CHACHA20-POLY1305", call_messages, False),
    "tls13_aes128gcm": ("1.3", "TLS_AES_128_GCM_SHA256", call_messages, False),
    "tls13_aes256gcm": ("1.3", "TLS_AES_256_GCM_SHA384", call_messages, False),
    "tls13_chacha20": ("1.3", "TLS_CHACHA20_POLY1305_SHA256", call_messages, False),
    "tls12_resumed": ("1.2", "ECDHE-RSA-AES128-GCM-SHA256", call_messages, True),
    "tls13_resumed": ("1.3", "TLS_AES_128_GCM_SHA256", call_messages, True),
    "tls13_wss": ("1.3", "TLS_AES_256_GCM_SHA384", wss_messages, False),
    "tls13_keyupdate": ("1.3", "TLS_AES_128_GCM_SHA256", None, False),  # openssl s_client
}


def free_port():
    for port in range(5061, 5091):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    sys.exit("record_tls: no free port in 5061-5090")


class Tcpdump:
    def __init__(self, path, port):
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", path,
             "tcp port %d" % port],
            stderr=subprocess.PIPE)
        # tcpdump says "listening on lo" once the capture runs
        line = self.proc.stderr.readline()
        if b"listening" not in line:
            sys.exit("record_tls: tcpdump: %s" % line.decode(errors="replace"))

    def stop(self):
        time.sleep(1.0)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)


def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=sip.test"], check=True,
                   capture_output=True)
    return cert, key


def exchange_python(port, version, cipher, messages, resume, keys, cert, key):
    """Runs in a child process whose OPENSSL_CONF picks the TLS 1.3 suite."""
    tv = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    for ctx in (sctx, cctx):
        ctx.minimum_version = ctx.maximum_version = tv
        ctx.keylog_filename = keys
        if version == "1.2":
            ctx.set_ciphers(cipher)
    if os.environ.get("RECORD_TLS_EXPECTED"):  # the SIP messages sent, for tests/e2e
        with open(os.environ["RECORD_TLS_EXPECTED"], "w") as f:
            for side, _, msgs in messages:
                for m in msgs:
                    f.write('{"side": "%s", "payload": "%s"}\n' % (side, m.hex()))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4)
    rounds = 2 if resume else 1

    def play(conn, me):
        """Each side sends its entries (one write per record) and reads the
        other side's, in order: the flow is a strict ping-pong."""
        for side, records, _ in messages:
            if side == me:
                for rec in records:
                    conn.sendall(rec)
                    time.sleep(0.02)  # one TCP segment per record
            else:
                want, got = sum(len(r) for r in records), 0
                while got < want:
                    got += len(conn.recv(65536))
        session = conn.session  # TLS 1.3: the tickets came with the server's messages
        try:
            conn.unwrap()
        except (ssl.SSLError, OSError):
            pass
        conn.close()
        return session

    def server():
        for _ in range(rounds):
            raw, _ = listener.accept()
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = sctx.wrap_socket(raw, server_side=True)
            conn.settimeout(10)
            play(conn, "s")

    t = threading.Thread(target=server, daemon=True)
    t.start()
    session = None
    for r in range(rounds):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = cctx.wrap_socket(raw, session=session)
        conn.settimeout(10)
        if r == 1 and not conn.session_reused:
            sys.exit("record_tls: the session was not resumed")
        session = play(conn, "c")
        time.sleep(0.1)
    t.join(10)


def exchange_openssl(port, keys, cert, key, suite):
    """KeyUpdate: openssl s_server and s_client, driven through their stdin;
    "k" asks for a key update, "K" for one the peer must answer too."""
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", str(port), "-cert", cert, "-key", key, "-naccept", "1",
         "-tls1_3", "-ciphersuites", suite],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-tls1_3", "-ciphersuites",
         suite, "-keylogfile", keys],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    msgs = [m for _, recs, _ in call_messages("keyupdate") for m in recs]
    invite = msgs[0] + msgs[1]
    script = [(client, invite), (server, msgs[2]), (client, b"K\n"), (server, msgs[3]),
              (client, msgs[4]), (server, b"k\n"), (client, msgs[7]), (server, msgs[8])]
    time.sleep(0.5)
    for proc, data in script:
        proc.stdin.write(data)
        proc.stdin.flush()
        time.sleep(0.3)
    client.stdin.close()
    time.sleep(0.3)
    client.terminate()
    server.terminate()
    client.wait(10)
    server.wait(10)


def record(outdir, name, tmp, cert, key):
    version, cipher, messages, resume = CASES[name]
    pcap, keys = os.path.join(outdir, name + ".pcap"), os.path.join(outdir, name + ".keys")
    for p in (pcap, keys):
        if os.path.exists(p):
            os.unlink(p)
    port = free_port()
    dump = Tcpdump(pcap, port)
    try:
        if messages is None:
            exchange_openssl(port, keys, cert, key, cipher)
        else:
            conf = os.path.join(tmp, "openssl.cnf")
            with open(conf, "w") as f:
                f.write("openssl_conf = c\n[c]\nssl_conf = s\n[s]\nsystem_default = d\n"
                        "[d]\nCiphersuites = %s\n" % (cipher if version == "1.3"
                                                      else "TLS_AES_128_GCM_SHA256"))
            env = dict(os.environ, OPENSSL_CONF=conf)
            subprocess.run([sys.executable, __file__, "--child", str(port), name, keys, cert, key],
                           env=env, check=True, timeout=60)
    finally:
        dump.stop()
    os.chmod(keys, 0o600)
    print("%s: port %d, %d bytes of capture, %d key lines" % (
        name, port, os.path.getsize(pcap), sum(1 for _ in open(keys) if not _.startswith("#"))))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        port, name, keys, cert, key = sys.argv[2:7]
        version, cipher, messages, resume = CASES[name]
        exchange_python(int(port), version, cipher, messages(name), resume, keys, cert, key)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        print("\n".join(CASES))
        return
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(CASES)
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        for name in names:
            record(outdir, name, tmp, cert, key)


if __name__ == "__main__":
    main()
