#!/usr/bin/env bash
# The console trace on a real terminal: hepagent -A runs live on loopback in
# a tmux pane while SIPp places 4 calls; the pane must show every message,
# colored by Call-ID (the same color for all of a call's messages, more than
# one color in all), the method/status in bold, and the per-call summary
# once --count stops hepagent after the 24 messages of the calls.
source "$(dirname "$0")/lib.sh" "$@"
command -v tmux >/dev/null || fail "tmux is not installed"
PY=/usr/bin/python3
read -r PORT_A PORT_B < <($PY - <<'PYEOF'
import random, socket
random.seed()
ports = []
while len(ports) < 2:
    p = random.randint(20000, 32000)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", p)); ports.append(p)
    except OSError:
        pass
    s.close()
print(*ports)
PYEOF
)
cat >"$WORK/cfg.json" <<JSON
{"rules": [{"name": "sipp", "ports": [$PORT_A, $PORT_B], "transport": ["udp"]}],
 "collectors": []}
JSON
SESSION=hepagent-trace-$$
cleanup_tmux() { tmux kill-session -t "$SESSION" 2>/dev/null || true; e2e_cleanup; }
trap cleanup_tmux EXIT

tmux new-session -d -s "$SESSION" -x 220 -y 50 \
    "TERM=xterm-256color '$HEPAGENT' -A -i lo -c '$WORK/cfg.json' --count 24 2>'$WORK/agent.log'; \
     echo EXIT=\$? >'$WORK/exit'; sleep 60"
for _ in $(seq 100); do grep -q "capturing on" "$WORK/agent.log" 2>/dev/null && break; sleep 0.05; done
grep -q "capturing on" "$WORK/agent.log" || fail "hepagent did not start: $(cat "$WORK/agent.log")"

timeout 30 sipp -sn uas -i 127.0.0.1 -p "$PORT_A" -nostdin -m 4 >/dev/null 2>&1 &
E2E_PIDS+=($!)
timeout 30 sipp -sn uac "127.0.0.1:$PORT_A" -i 127.0.0.1 -p "$PORT_B" -m 4 -r 4 -d 100 -nostdin \
    -timeout 20s >/dev/null 2>&1 || fail "SIPp UAC failed"
wait_for_file "$WORK/exit" 15
grep -q "EXIT=0" "$WORK/exit" || fail "hepagent: $(cat "$WORK/exit") $(cat "$WORK/agent.log")"
tmux capture-pane -t "$SESSION" -p -e -S -5000 >"$WORK/pane.txt"

$PY - "$WORK/pane.txt" <<'PYEOF'
import re, sys
raw = open(sys.argv[1], encoding="utf-8", errors="replace").read()
# Replay the SGR sequences as a terminal would: each character gets the
# foreground color and boldness in force where it is drawn.
chars, fg, bold = [], None, False
for part in re.split(r"(\x1b\[[0-9;]*m)", raw):
    m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
    if m:
        for code in (m.group(1) or "0").split(";"):
            c = int(code or 0)
            if c == 0:
                fg, bold = None, False
            elif c == 1:
                bold = True
            elif c == 22:
                bold = False
            elif 30 <= c <= 37 or 90 <= c <= 97:
                fg = c
            elif c == 39:
                fg = None
        continue
    if "\x1b" in part:
        print("FAIL: an escape sequence that is not a color: %r" % part[:40]); sys.exit(1)
    chars.extend((ch, fg, bold) for ch in part)
text = "".join(c[0] for c in chars)
header = re.compile(r"^(\d{4}-\d\d-\d\d \S+) UDP (\S+) -> (\S+) \((\d+) bytes\) (.*)$", re.M)
errors, colors = [], {}
heads = list(header.finditer(text))
if len(heads) != 24:
    errors.append("%d messages shown, expected 24 (4 calls of 6)" % len(heads))
for i, m in enumerate(heads):
    color = chars[m.start()][1]
    what = m.group(5)
    if not all(chars[k][2] for k in range(m.start(5), m.end(5))):
        errors.append("%r not in bold" % what)
    body = text[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
    cid = re.search(r"Call-ID: (\S+)", body)
    if not cid:
        errors.append("no Call-ID under %r" % m.group(0)); continue
    start = m.end() + cid.start(1)
    colors.setdefault(cid.group(1), set()).update({color, chars[start][1]})
if len(colors) != 4:
    errors.append("%d calls seen, expected 4" % len(colors))
for cid, c in colors.items():
    if len(c) != 1 or None in c:
        errors.append("call %s not in one color: %s" % (cid, sorted(map(str, c))))
if len({next(iter(c)) for c in colors.values()}) < 2:
    errors.append("all calls in one color")
if not re.search(r"^4 calls$", text, re.M) or \
        len(re.findall(r"INVITE, 6 messages, \d+s, final 200 \(INVITE\)", text)) != 4:
    errors.append("per-call summary missing or wrong")
if errors:
    print("FAIL: " + "\n  ".join(errors)); sys.exit(1)
print("== PASS trace on a terminal: 24 messages, 4 calls in %d colors, methods in bold" %
      len({next(iter(c)) for c in colors.values()}))
PYEOF
