#!/usr/bin/env bash
# End-to-end: Kamailio's sipcapture module (5.6) accepts hepagent's HEPv3 over
# UDP and over TCP and stores rows that match the input, using db_text (text
# files, no database server).
#
# Usage: tests/e2e/kamailio.sh BUILD_DIR
#
# For each transport one Kamailio runs in the foreground on 127.0.0.1 and a
# free port (its config: tests/e2e/kamailio/kamailio.cfg, templated into
# $WORK). hepagent reads the captures below and sends them with
# --node-name kamtest --capture-id 4242. Kamailio is then stopped (db_text
# writes its table file at shutdown) and every row of sip_capture is compared
# with what tshark decodes from the captures: row count, Call-ID, method or
# status, CSeq, source/destination IP and port, proto, family, type, capture
# time (date and micro_ts), correlation id, node ("<capture_node>:<capture id>")
# and the raw message (the msg column, un-escaped).
#
# Needs: kamailio (Debian package "kamailio": sipcapture.so, db_text.so, pv.so,
# xlog.so), tshark, python3, ss (iproute2).
#
# Environment: KAMAILIO (binary, default: from PATH or /usr/sbin/kamailio),
# KAMAILIO_E2E_CAPTURES (space-separated pcap files to send instead of the
# default two), E2E_KEEP=1 keeps $WORK.

source "$(dirname "$0")/lib.sh" "$@"

KAM_TEMPLATES=$E2E_DIR/kamailio
NODE_NAME=kamtest
CAPTURE_ID=4242
# sipcapture stores node = "<its capture_node parameter>:<HEP capture id>".
# The HEP node name chunk (0x0013) is not read by Kamailio 5.6 at all, so the
# name part comes from the config; it deliberately differs from NODE_NAME so
# that the check shows where each part comes from.
CAPTURE_NODE=e2e-kamailio
EXPECTED_NODE=$CAPTURE_NODE:$CAPTURE_ID

STEP_TIMEOUT=15 # seconds, for each wait below

if [ -n "${KAMAILIO_E2E_CAPTURES:-}" ]; then
    read -r -a CAPTURES <<<"$KAMAILIO_E2E_CAPTURES"
else
    CAPTURES=("$CORPUS/udp/zeek_wireshark_sip.pcap" "$CORPUS/tcp/sip_tcp_pattern.pcap")
fi

KAMAILIO=${KAMAILIO:-$(command -v kamailio || echo /usr/sbin/kamailio)}
[ -x "$KAMAILIO" ] || fail "kamailio not found (install the Debian package 'kamailio')"
for tool in tshark python3 ss; do
    command -v "$tool" >/dev/null || fail "$tool not found (needed by this test)"
done
[ -x "$HEPAGENT" ] || fail "hepagent not built: $HEPAGENT"
for f in kamailio.cfg sip_capture version; do
    [ -f "$KAM_TEMPLATES/$f" ] || fail "missing $KAM_TEMPLATES/$f"
done
for c in "${CAPTURES[@]}"; do [ -f "$c" ] || fail "missing capture $c"; done

# ---------------------------------------------------------------- expectations
# One JSON document per capture: the fields of every frame tshark decodes as SIP.
note "expected values from tshark"
EXPECT_ARGS=()
for c in "${CAPTURES[@]}"; do
    out=$WORK/expect.$(basename "$c").json
    tshark -r "$c" -Y sip -T json \
        -e frame.number -e frame.time_epoch \
        -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst \
        -e udp.srcport -e udp.dstport -e tcp.srcport -e tcp.dstport \
        -e sip.Method -e sip.Status-Code -e sip.Call-ID -e sip.CSeq \
        -e udp.payload -e tcp.payload -e tcp.reassembled.data \
        >"$out" 2>"$WORK/tshark.err" || fail "tshark failed on $c: $(cat "$WORK/tshark.err")"
    EXPECT_ARGS+=("$c=$out")
done

# ------------------------------------------------------------------ helpers
now_ms() { date +%s%3N; }

owned_by() { # owned_by PID PIDS... : true if one of PIDS is PID or a child of it
    local want=$1 p
    shift
    for p in "$@"; do
        [ "$p" = "$want" ] && return 0
        [ "$(awk '$1 == "PPid:" {print $2}' "/proc/$p/status" 2>/dev/null)" = "$want" ] && return 0
    done
    return 1
}

listening_pids() { # listening_pids udp|tcp PORT : pids owning the listening socket
    local opt=-Hlunp
    [ "$1" = tcp ] && opt=-Hltnp
    { ss "$opt" "sport = :$2" | grep -o 'pid=[0-9]*' || true; } | cut -d= -f2 | sort -u
}

kam_pid_state() { # prints the process state letter, nothing if it is gone
    awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true
}

forget_pid() { # drop a reaped pid from E2E_PIDS so cleanup does not signal a reused pid
    local p keep=()
    for p in "${E2E_PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
    E2E_PIDS=("${keep[@]:-}")
}

port_free() {
    [ -z "$(ss -Hlun "sport = :$1")" ] && [ -z "$(ss -Hltn "sport = :$1")" ]
}

pick_port() {
    local i p
    for ((i = 0; i < 200; i++)); do
        p=$((19060 + RANDOM % 940))
        port_free "$p" && { echo "$p"; return 0; }
    done
    return 1
}

# start_kamailio udp|tcp : sets KAM_PID, KAM_PORT, KAM_LOG, KAM_DB
start_kamailio() {
    local transport=$1 dir=$WORK/kam-$1 attempt deadline listening owners why st defines=()
    [ "$transport" = tcp ] && defines=(-A HEP_TCP)
    for ((attempt = 1; attempt <= 5; attempt++)); do
        rm -rf "$dir"
        mkdir -p "$dir/db" "$dir/run"
        cp "$KAM_TEMPLATES/sip_capture" "$KAM_TEMPLATES/version" "$dir/db/"
        KAM_PORT=$(pick_port) || fail "no free port in 19060-19999"
        KAM_LOG=$dir/kamailio.log
        KAM_DB=$dir/db
        sed -e "s|@PORT@|$KAM_PORT|g" -e "s|@DBDIR@|$KAM_DB|g" \
            -e "s|@CAPTURE_NODE@|$CAPTURE_NODE|g" \
            "$KAM_TEMPLATES/kamailio.cfg" >"$dir/kamailio.cfg"
        "$KAMAILIO" -DD -E -m 64 -M 8 "${defines[@]}" -f "$dir/kamailio.cfg" \
            -Y "$dir/run" -P "$dir/run/kamailio.pid" -w "$dir" \
            </dev/null >>"$KAM_LOG" 2>&1 &
        KAM_PID=$!
        E2E_PIDS+=("$KAM_PID")
        # wait until the socket is listening and held by this kamailio (the
        # main process or, for TCP, its tcp_main child)
        listening=
        deadline=$(($(now_ms) + STEP_TIMEOUT * 1000))
        while [ "$(now_ms)" -lt "$deadline" ]; do
            case $(kam_pid_state "$KAM_PID") in "" | Z) break ;; esac
            owners=$(listening_pids "$transport" "$KAM_PORT")
            # shellcheck disable=SC2086 # one pid per word
            if [ -n "$owners" ] && owned_by "$KAM_PID" $owners; then
                listening=1
                break
            fi
            sleep 0.05
        done
        if [ -n "$listening" ]; then
            note "kamailio ($transport) pid $KAM_PID listening on 127.0.0.1:$KAM_PORT"
            return 0
        fi
        why="did not listen on 127.0.0.1:$KAM_PORT within ${STEP_TIMEOUT}s"
        case $(kam_pid_state "$KAM_PID") in "" | Z) why="exited while starting" ;; esac
        kill -TERM "$KAM_PID" 2>/dev/null || true
        st=0
        wait "$KAM_PID" 2>/dev/null || st=$?
        forget_pid "$KAM_PID"
        if grep -aq -i 'address already in use' "$KAM_LOG"; then
            note "port $KAM_PORT taken meanwhile, trying another"
            continue
        fi
        tail -n 30 "$KAM_LOG" >&2
        fail "kamailio ($transport) $why (exit status $st; its log is above)"
    done
    fail "kamailio ($transport) could not bind a free port after 5 attempts"
}

# stop_kamailio: SIGTERM, wait (bounded) for exit; db_text writes the table then
stop_kamailio() {
    local deadline st=0
    kill -TERM "$KAM_PID" 2>/dev/null || true
    deadline=$(($(now_ms) + STEP_TIMEOUT * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        case $(kam_pid_state "$KAM_PID") in "" | Z) break ;; esac
        sleep 0.05
    done
    case $(kam_pid_state "$KAM_PID") in
    "" | Z) ;;
    *)
        kill -KILL "$KAM_PID" 2>/dev/null || true
        wait "$KAM_PID" 2>/dev/null || true
        forget_pid "$KAM_PID"
        fail "kamailio pid $KAM_PID did not exit within ${STEP_TIMEOUT}s of SIGTERM (db_text table not written)"
        ;;
    esac
    wait "$KAM_PID" 2>/dev/null || st=$?
    forget_pid "$KAM_PID"
    [ "$st" = 0 ] || note "kamailio exited with status $st"
}

count_in_log() { # count_in_log PATTERN : occurrences (not lines: processes share the log)
    { grep -a -o -- "$1" "$KAM_LOG" || true; } | wc -l
}

# ------------------------------------------------------------ row comparison
# check_rows DBFILE NODE SENT PROTO_LABEL CAPTURE=EXPECT_JSON...
check_rows() {
    python3 - "$@" <<'PY'
import json, os, sys

db_file, node, sent, label = sys.argv[1:5]
sent = int(sent)
inputs = [a.split("=", 1) for a in sys.argv[5:]]

# Kamailio enum sip_protos / address families, as sipcapture stores them
PROTO = {"udp": 1, "tcp": 2}
FAMILY = {4: 2, 6: 10}
SIP_REQUEST, SIP_REPLY = 1, 2

def first(layers, name):
    v = layers.get(name)
    return v[0] if v else None

expected = []
for capture, path in inputs:
    with open(path) as f:
        frames = json.load(f)
    for fr in frames:
        L = fr["_source"]["layers"]
        num = first(L, "frame.number")
        where = f"{os.path.basename(capture)} frame {num}"
        callids = L.get("sip.Call-ID", [])
        if len(callids) != 1:
            sys.exit(f"FAIL: {where}: {len(callids)} SIP messages in one frame; "
                     "this test expects one per frame")
        if first(L, "udp.srcport"):
            transport, sport, dport = "udp", first(L, "udp.srcport"), first(L, "udp.dstport")
            payload = first(L, "udp.payload")
        else:
            transport, sport, dport = "tcp", first(L, "tcp.srcport"), first(L, "tcp.dstport")
            payload = first(L, "tcp.reassembled.data") or first(L, "tcp.payload")
        if first(L, "ip.src"):
            fam, src, dst = 4, first(L, "ip.src"), first(L, "ip.dst")
        else:
            fam, src, dst = 6, first(L, "ipv6.src"), first(L, "ipv6.dst")
        sec, _, frac = first(L, "frame.time_epoch").partition(".")
        usec = int((frac + "000000")[:6])
        micro = int(sec) * 1000000 + usec
        # db_text has no 64-bit column: micro_ts (a BIGINT) lands in an int
        # column as its low 32 bits, signed
        micro32 = micro & 0xFFFFFFFF
        if micro32 >= 1 << 31:
            micro32 -= 1 << 32
        method = first(L, "sip.Method")
        expected.append({
            "_where": where,
            "callid": callids[0],
            "method": method if method else first(L, "sip.Status-Code"),
            "type": SIP_REQUEST if method else SIP_REPLY,
            "cseq": first(L, "sip.CSeq"),
            "source_ip": src, "source_port": int(sport),
            "destination_ip": dst, "destination_port": int(dport),
            "proto": PROTO[transport], "family": FAMILY[fam],
            "date": int(sec), "micro_ts": micro32,
            "correlation_id": callids[0],
            "node": node,
            "msg": bytes.fromhex(payload.replace(":", "")),
        })

# --- db_text file: header "name(type,...) ...", rows separated by ':' with
# '\n' '\r' '\t' '\\' '\0' and '\:' escaped
UNESC = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("\\"): b"\\",
         ord("0"): b"\0", ord(":"): b":"}

def split_row(line):
    fields, cur, i = [], bytearray(), 0
    while i < len(line):
        c = line[i]
        if c == 0x5C and i + 1 < len(line):  # backslash
            cur += UNESC.get(line[i + 1], bytes([line[i + 1]]))
            i += 2
            continue
        if c == 0x3A:  # ':'
            fields.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    fields.append(bytes(cur))
    return fields

with open(db_file, "rb") as f:
    lines = f.read().split(b"\n")
header = lines[0].decode().split()
cols = [h.split("(")[0] for h in header]
types = {h.split("(")[0]: h.split("(")[1].split(",")[0].rstrip(")") for h in header}
rows = []
for n, line in enumerate(lines[1:], start=2):
    if not line:
        continue
    vals = split_row(line)
    if len(vals) != len(cols):
        sys.exit(f"FAIL: {db_file} line {n}: {len(vals)} fields, header has {len(cols)}")
    row = {}
    for c, v in zip(cols, vals):
        if c == "msg":
            row[c] = v
        elif types[c] in ("int", "time"):
            row[c] = int(v) if v else None
        else:
            row[c] = v.decode("utf-8", "replace")
    rows.append(row)

KEYS = ["callid", "method", "type", "cseq", "source_ip", "source_port",
        "destination_ip", "destination_port", "proto", "family", "date",
        "micro_ts", "correlation_id", "node", "msg"]

def key(r):
    return tuple(r[k] for k in KEYS)

problems = []
if len(expected) != sent:
    problems.append(f"hepagent sent {sent} SIP messages, tshark finds {len(expected)} in the input")
if len(rows) != len(expected):
    problems.append(f"sip_capture has {len(rows)} rows, expected {len(expected)}")

# 1. exact matches, as multisets (retransmissions are identical but for the time)
pending = {}
for e in expected:
    pending.setdefault(key(e), []).append(e)
unmatched_rows = []
for r in rows:
    lst = pending.get(key(r))
    if lst:
        lst.pop()
    else:
        unmatched_rows.append(r)
unmatched_exp = [e for lst in pending.values() for e in lst]

# 2. explain what is left: pair by capture time, then by message, then in order
def describe(e, r):
    out = []
    for k in KEYS:
        if e[k] != r[k]:
            if k == "msg":
                a, b = e[k], r[k]
                off = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
                out.append(f"msg differs ({len(a)} bytes in the input, {len(b)} stored, first difference "
                           f"at byte {off}: input {a[off:off+24]!r}, stored {b[off:off+24]!r})")
            else:
                out.append(f"{k}: expected {e[k]!r}, stored {r[k]!r}")
    return "; ".join(out)

for e in list(unmatched_exp):
    r = next((r for r in unmatched_rows if (r["date"], r["micro_ts"]) == (e["date"], e["micro_ts"])), None) \
        or next((r for r in unmatched_rows if r["msg"] == e["msg"]), None) \
        or (unmatched_rows[0] if unmatched_rows else None)
    if r is None:
        problems.append(f"{e['_where']} ({e['method']} {e['callid']}): no row stored")
    else:
        unmatched_rows.remove(r)
        problems.append(f"{e['_where']} (row id {r.get('id')}): {describe(e, r)}")
    unmatched_exp.remove(e)
for r in unmatched_rows:
    problems.append(f"row id {r.get('id')} ({r['method']} {r['callid']}) matches no input message")

if problems:
    print(f"FAIL [{label}]: {len(problems)} difference(s) between sip_capture and the input:", file=sys.stderr)
    for p in problems[:20]:
        print("  " + p, file=sys.stderr)
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more", file=sys.stderr)
    sys.exit(1)
nodes = sorted({r["node"] for r in rows})
print(f"== [{label}] {len(rows)} rows match the {len(expected)} input SIP messages "
      f"(Call-ID, method/status, CSeq, IPs, ports, proto, family, type, date, micro_ts, "
      f"correlation_id, msg); node {', '.join(nodes)}")
PY
}

# ------------------------------------------------------------------- the runs
run_transport() {
    local transport=$1 sent stored notstored hep_seen deadline rc=0 read_args=() c
    start_kamailio "$transport"
    for c in "${CAPTURES[@]}"; do read_args+=(-r "$c"); done

    "$HEPAGENT" "${read_args[@]}" -H "$transport://127.0.0.1:$KAM_PORT" \
        --node-name "$NODE_NAME" --capture-id "$CAPTURE_ID" --stats \
        >"$WORK/hepagent-$transport.out" 2>"$WORK/hepagent-$transport.err" || rc=$?
    if [ "$rc" != 0 ]; then
        cat "$WORK/hepagent-$transport.err" >&2
        fail "hepagent exited with $rc sending over $transport"
    fi
    sent=$(awk '$1 == "rules_sent" {print $2}' "$WORK/hepagent-$transport.err")
    [ -n "$sent" ] || fail "hepagent --stats printed no rules_sent ($transport)"
    grep -q "^collector\[$transport://127.0.0.1:$KAM_PORT\]\.sent $sent\$" "$WORK/hepagent-$transport.err" ||
        fail "hepagent did not send all $sent packets to the collector over $transport: $(grep '^collector' "$WORK/hepagent-$transport.err" | tr '\n' ' ')"

    # every message handed to sip_capture() logs one line; wait for all of them
    deadline=$(($(now_ms) + STEP_TIMEOUT * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        stored=$(count_in_log E2E-STORED)
        notstored=$(count_in_log E2E-NOTSTORED)
        [ $((stored + notstored)) -ge "$sent" ] && break
        sleep 0.05
    done
    # let anything beyond the expected count show up too
    sleep 0.2
    stored=$(count_in_log E2E-STORED)
    notstored=$(count_in_log E2E-NOTSTORED)
    hep_seen=$(count_in_log E2E-HEP)
    stop_kamailio

    if [ "$transport" = tcp ]; then
        # the TCP instance logs what it saw in each HEP packet before parsing
        [ "$(count_in_log "E2E-HEP v=3 capid=$CAPTURE_ID end")" = "$hep_seen" ] ||
            fail "tcp: HEP packets with another version or capture id: $({ grep -a -o 'E2E-HEP [^ ]* [^ ]* end' "$KAM_LOG" | grep -v "v=3 capid=$CAPTURE_ID end" | head -3; } || true)"
        [ "$hep_seen" = "$sent" ] || fail "tcp: kamailio decoded $hep_seen HEP packets, hepagent sent $sent"
    fi
    if [ "$notstored" != 0 ]; then
        grep -a -E 'E2E-NOTSTORED|ERROR' "$KAM_LOG" | grep -v 'BIGINT not supported' | head -10 >&2 || true
        fail "$transport: sip_capture() failed for $notstored of $sent messages (log: $KAM_LOG)"
    fi
    if [ "$stored" != "$sent" ]; then
        grep -a -E 'ERROR|CRITICAL' "$KAM_LOG" | grep -v 'BIGINT not supported' | head -10 >&2 || true
        fail "$transport: kamailio stored $stored messages within ${STEP_TIMEOUT}s, hepagent sent $sent (log: $KAM_LOG)"
    fi
    [ -s "$KAM_DB/sip_capture" ] || fail "$transport: $KAM_DB/sip_capture missing after shutdown"

    check_rows "$KAM_DB/sip_capture" "$EXPECTED_NODE" "$sent" "$transport" "${EXPECT_ARGS[@]}" ||
        fail "$transport: stored rows differ from the input (table: $KAM_DB/sip_capture, log: $KAM_LOG)"
    note "$transport: hepagent sent $sent, kamailio stored $stored"
}

note "captures: ${CAPTURES[*]}"
run_transport udp
run_transport tcp
note "kamailio sipcapture e2e: OK"
