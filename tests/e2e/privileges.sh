#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# Privileges: hepagent opens its capture handles, then gives up root and every
# capability; read from /proc/PID/status, as an operator would check.
#
#   1. root, -Z USER: uid/gid are USER's (all four ids), every capability set
#      is 0 (bounding and ambient too), no_new_privs; capture still works; the
#      spool directory (under a root-owned path) is created owned by USER; a
#      SIGHUP reload works after the drop; one that changes the capture
#      sources is refused with a line saying a restart is needed, and capture
#      goes on.
#   2. USER holding only CAP_NET_RAW + CAP_NET_ADMIN (setpriv, ambient, as
#      systemd's AmbientCapabilities= gives them): captures, then holds none
#      (with CAP_SETPCAP as well, the bounding set is emptied too).
#   3. USER without capabilities: exit 1, the error names CAP_NET_RAW.
#   4. USER asking -Z root: exit 1, the error says switching needs root.
#   5. USER reading a file (-r) needs nothing: exit 0, everything sent.
# The user is a throwaway system user made (and removed) by the test.

[ "$(id -u)" = 0 ] || fail "needs root (creates a user, captures on lo)"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"

TUSER=hepagent-t$$
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin "$TUSER" ||
    fail "cannot create user $TUSER"
privileges_cleanup() {
    e2e_cleanup
    userdel "$TUSER" 2>/dev/null || true
    getent group "$TUSER" >/dev/null && groupdel "$TUSER" 2>/dev/null || true
}
trap privileges_cleanup EXIT
TUID=$(id -u "$TUSER")
TGID=$(id -g "$TUSER")
# the user must be able to read the configs after the drop (reload), as the
# packaged /etc/hepagent/hepagent.json is readable by the hepagent group
chmod 755 "$WORK"

LOG=$WORK/agent.log
wait_log() { # PATTERN SECONDS
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        grep -qE -- "$1" "$LOG" && return 0
        kill -0 "$AGENT_PID" 2>/dev/null || { cat "$LOG" >&2; fail "hepagent died waiting for /$1/"; }
        sleep 0.05
    done
    cat "$LOG" >&2
    fail "hepagent did not log /$1/ within $2 s"
}

# status_field PID NAME: the value of one /proc/PID/status line
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ +/, ""); print }' "/proc/$1/status"; }

# check_dropped PID: uid/gid of TUSER, no capability in any set, no_new_privs
check_dropped() {
    local pid=$1 set v
    v=$(status_field "$pid" Uid)
    [ "$v" = "$TUID $TUID $TUID $TUID" ] || fail "Uid: '$v', want $TUID four times"
    v=$(status_field "$pid" Gid)
    [ "$v" = "$TGID $TGID $TGID $TGID" ] || fail "Gid: '$v', want $TGID four times"
    for set in CapInh CapPrm CapEff CapAmb; do
        v=$(status_field "$pid" $set)
        [ "$v" = 0000000000000000 ] || fail "$set: $v, want 0000000000000000"
    done
    v=$(status_field "$pid" NoNewPrivs)
    [ "$v" = 1 ] || fail "NoNewPrivs: $v, want 1"
}

# deliver PREFIX PORT: 3 SIP OPTIONS to PORT on loopback must reach the sink
deliver() {
    local i
    "$PYTHON" "$E2E_DIR/sipgen.py" "$2" "$1" 3 1000 >/dev/null
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c "\"corr\":\"$1-" "$WORK/priv.jsonl" || true)" = 3 ] && return 0
        sleep 0.05
    done
    cat "$LOG" >&2
    fail "$1: the 3 messages to port $2 did not all reach the sink"
}

write_config() { # FILE PORT [INTERFACE]
    cat >"$1" <<EOF
{
    "agent": { "log_level": "info", "shutdown_timeout_ms": 500 },
    "capture": [ { "interface": "${3:-lo}", "snaplen": 65535, "buffer_mb": 2 } ],
    "rules": [ { "name": "p$2", "ports": [$2], "transport": ["udp"], "action": "send" } ],
    "collectors": [ { "url": "udp://127.0.0.1:$SINK_UDP_PORT" },
                    { "url": "tcp://127.0.0.1:$DEAD_PORT", "spool": true } ],
    "delivery": { "spool_dir": "$SPOOL", "reconnect_min_ms": 1000 }
}
EOF
    chmod 644 "$1"
}

read -r PORT_A PORT_B DEAD_PORT <<<"$(pick_ports 3)"
start_sink priv -u 0
SPOOL=$WORK/rootonly/spool # rootonly: 0755, root's: only root can make spool in it (as /var/spool)
mkdir -m 755 "$WORK/rootonly"
CFG=$WORK/cfg.json
write_config "$WORK/cfg-a.json" "$PORT_A"
write_config "$WORK/cfg-b.json" "$PORT_B"
write_config "$WORK/cfg-any.json" "$PORT_B" any
cp "$WORK/cfg-a.json" "$CFG"

# ---- 1. root, -Z -----------------------------------------------------------
"$HEPAGENT" -Z "$TUSER" -c "$CFG" 2>"$LOG" &
AGENT_PID=$!
wait_log "capturing on 1 sources" 5
grep -qF "privileges given up: now uid $TUID ($TUSER), gid $TGID, capabilities: none" "$LOG" ||
    { cat "$LOG" >&2; fail "no 'privileges given up' line naming $TUSER"; }
check_dropped "$AGENT_PID"
note "1: -Z $TUSER: uid $TUID, gid $TGID, CapInh/Prm/Eff/Amb 0, NoNewPrivs 1 (CapBnd $(status_field "$AGENT_PID" CapBnd))"
[ "$(status_field "$AGENT_PID" CapBnd)" = 0000000000000000 ] || fail "root dropping to a user must clear the bounding set too"
deliver z1 "$PORT_A"
# the spool directory under a root-only path: made by root, given to the user
[ "$(stat -c %U "$SPOOL")" = "$TUSER" ] || fail "$SPOOL is owned by $(stat -c %U "$SPOOL"), want $TUSER"
ls "$SPOOL"/tcp* >/dev/null 2>&1 || fail "no collector spool directory made in $SPOOL after the drop"
[ "$(stat -c %U "$SPOOL"/tcp*)" = "$TUSER" ] || fail "the collector's spool directory is not $TUSER's"
note "1: spool $SPOOL and its collector directory belong to $TUSER"

cp "$WORK/cfg-b.json" "$CFG"
kill -HUP "$AGENT_PID"
wait_log "reloaded $CFG" 5
deliver z2 "$PORT_B"
note "1: reload after the drop: the new rule (port $PORT_B) applies"

cp "$WORK/cfg-any.json" "$CFG"
kill -HUP "$AGENT_PID"
wait_log "capture sources changed; opening them needs the privileges given up at start: restart" 5
deliver z3 "$PORT_B"
note "1: a reload changing the capture sources: $(grep -F 'sources changed' "$LOG" | sed 's/^hepagent: //')"
check_dropped "$AGENT_PID"

kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
[ "$WAIT_RC" = 0 ] || { cat "$LOG" >&2; fail "case 1 exited $WAIT_RC, want 0"; }

# ---- 2. only CAP_NET_RAW + CAP_NET_ADMIN --------------------------------------
cp "$WORK/cfg-a.json" "$CFG"
CAPS=+net_raw,+net_admin
setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --inh-caps=-all,$CAPS \
    --ambient-caps=-all,$CAPS --bounding-set=-all,$CAPS -- "$HEPAGENT" -c "$CFG" 2>"$LOG" &
AGENT_PID=$!
wait_log "capturing on 1 sources" 5
check_dropped "$AGENT_PID"
deliver c2 "$PORT_A"
note "2: $TUSER with only CAP_NET_RAW+CAP_NET_ADMIN: captured, then CapEff 0 (CapBnd $(status_field "$AGENT_PID" CapBnd))"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
[ "$WAIT_RC" = 0 ] || { cat "$LOG" >&2; fail "case 2 exited $WAIT_RC, want 0"; }
# holding CAP_SETPCAP too, it may and does empty the bounding set as well
CAPS=+net_raw,+net_admin,+setpcap
setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --inh-caps=-all,$CAPS \
    --ambient-caps=-all,$CAPS --bounding-set=-all,$CAPS -- "$HEPAGENT" -c "$CFG" 2>"$LOG" &
AGENT_PID=$!
wait_log "capturing on 1 sources" 5
check_dropped "$AGENT_PID"
[ "$(status_field "$AGENT_PID" CapBnd)" = 0000000000000000 ] ||
    fail "with CAP_SETPCAP the bounding set stays $(status_field "$AGENT_PID" CapBnd)"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
note "2: with CAP_SETPCAP as well: the bounding set emptied too"

# ---- 3. no capabilities, 4. -Z root as a user ----------------------------------
rc=0
setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --inh-caps=-all --bounding-set=-all \
    -- "$HEPAGENT" -c "$CFG" 2>"$LOG" || rc=$?
[ "$rc" = 1 ] || fail "without capabilities: exit $rc, want 1"
grep -q "interface lo: capturing needs the capability CAP_NET_RAW" "$LOG" ||
    { cat "$LOG" >&2; fail "the error does not name CAP_NET_RAW and the interface"; }
! grep -q "capturing on" "$LOG" || fail "without capabilities it still claims to capture"
note "3: $(cat "$LOG")"
rc=0
setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups -- "$HEPAGENT" -Z root -c "$CFG" 2>"$LOG" || rc=$?
[ "$rc" = 1 ] || fail "-Z root as $TUSER: exit $rc, want 1"
grep -q "switching to user root needs root (CAP_SETUID and CAP_SETGID)" "$LOG" ||
    { cat "$LOG" >&2; fail "-Z root as a user: the error does not say why"; }
note "4: $(cat "$LOG")"

# ---- 5. a file needs no privilege ---------------------------------------------
PCAP=$CORPUS/udp/zeek_wireshark_sip.pcap
cp "$PCAP" "$WORK/in.pcap"
chmod 644 "$WORK/in.pcap"
rc=0
setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --inh-caps=-all --bounding-set=-all \
    -- "$HEPAGENT" -r "$WORK/in.pcap" -H "udp://127.0.0.1:$SINK_UDP_PORT" --stats 2>"$LOG" || rc=$?
[ "$rc" = 0 ] || { cat "$LOG" >&2; fail "-r as $TUSER without capabilities: exit $rc, want 0"; }
grep -q "^hep_packets 81$" "$LOG" || { cat "$LOG" >&2; fail "-r as $TUSER: want hep_packets 81"; }
note "5: -r $(basename "$PCAP") as $TUSER without capabilities: $(grep '^hep_packets' "$LOG")"
note "PASS"
