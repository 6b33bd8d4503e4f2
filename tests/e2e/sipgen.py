#!/usr/bin/env python3
"""SIP traffic for the delivery tests (stdlib only): UDP datagrams from one
ephemeral port to 127.0.0.1:PORT, where nobody needs to listen; hepagent
captures them on loopback. Every message carries Call-ID PREFIX-N.

  sipgen.py PORT PREFIX COUNT RATE [--calls]

COUNT OPTIONS requests (Call-IDs PREFIX-0 .. PREFIX-COUNT-1), or with --calls
COUNT calls of seven messages each (INVITE, 100, 180, 200, ACK, BYE, 200, all
with the call's Call-ID), paced at RATE messages per second. Prints the
number of messages sent, also when stopped early by SIGTERM (then the last
call may be incomplete)."""
import signal
import socket
import sys
import time

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


def options(port, lport, cid, n):
    return (f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{n}\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:gen@127.0.0.1>;tag=g{n}\r\n"
            f"To: <sip:probe@127.0.0.1:{port}>\r\n"
            f"Call-ID: {cid}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"Content-Length: 0\r\n\r\n")


def call(port, lport, cid, n):
    """The seven messages of one call, as seen on the wire."""
    def req(method, cseq):
        return (f"{method} sip:callee@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{n}-{method}\r\n"
                f"Max-Forwards: 70\r\n"
                f"From: <sip:caller@127.0.0.1>;tag=a{n}\r\n"
                f"To: <sip:callee@127.0.0.1>" + (f";tag=b{n}" if method != "INVITE" else "") + "\r\n"
                f"Call-ID: {cid}\r\n"
                f"CSeq: {cseq} {method}\r\n"
                f"Contact: <sip:caller@127.0.0.1:{lport}>\r\n"
                f"Content-Length: 0\r\n\r\n")

    def resp(code, reason, method, cseq, totag=True):
        return (f"SIP/2.0 {code} {reason}\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-{n}-{method}\r\n"
                f"From: <sip:caller@127.0.0.1>;tag=a{n}\r\n"
                f"To: <sip:callee@127.0.0.1>" + (f";tag=b{n}" if totag else "") + "\r\n"
                f"Call-ID: {cid}\r\n"
                f"CSeq: {cseq} {method}\r\n"
                f"Content-Length: 0\r\n\r\n")

    return [req("INVITE", 1), resp(100, "Trying", "INVITE", 1, False),
            resp(180, "Ringing", "INVITE", 1), resp(200, "OK", "INVITE", 1),
            req("ACK", 1), req("BYE", 2), resp(200, "OK", "BYE", 2)]


def main():
    args = [a for a in sys.argv[1:] if a != "--calls"]
    calls = "--calls" in sys.argv[1:]
    if len(args) != 4:
        sys.exit(__doc__)
    port, prefix, count, rate = int(args[0]), args[1], int(args[2]), float(args[3])
    signal.signal(signal.SIGTERM, stop)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    start = time.monotonic()
    sent = 0
    for n in range(count):
        if stopping:
            break
        cid = f"{prefix}-{n}"
        msgs = call(port, lport, cid, n) if calls else [options(port, lport, cid, n)]
        for m in msgs:
            # paced from the start, so a late wake-up catches up instead of drifting
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.sendto(m.encode(), ("127.0.0.1", port))
            sent += 1
    print(sent)


if __name__ == "__main__":
    main()
