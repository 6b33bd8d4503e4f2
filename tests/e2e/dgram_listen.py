#!/usr/bin/env python3
"""dgram_listen.py ADDRESS OUT: stands in for systemd's notification socket
(or for /dev/log): binds an AF_UNIX datagram socket at ADDRESS (a path, or
@name in the abstract namespace) and writes one JSON line per datagram to
OUT: {"t": CLOCK_MONOTONIC seconds at receipt, "msg": the text}. Runs until
SIGTERM."""
import json
import os
import signal
import socket
import sys
import time

addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if addr.startswith("@"):
    s.bind("\0" + addr[1:])
else:
    if os.path.exists(addr):
        os.unlink(addr)
    s.bind(addr)
    os.chmod(addr, 0o666)  # as /run/systemd/notify and /dev/log: anyone may write
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(out, "a", buffering=1) as f:
    f.write(json.dumps({"t": time.monotonic(), "msg": "(listening)"}) + "\n")
    while True:
        data = s.recv(65536)
        f.write(json.dumps({"t": time.monotonic(), "msg": data.decode("utf-8", "replace")}) + "\n")
