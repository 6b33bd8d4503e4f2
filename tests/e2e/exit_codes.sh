#!/usr/bin/env bash
# Every error path of the command line and the configuration against
# README's promise: exit 0 success, 1 runtime failure, 2 usage or
# configuration error, and each failure says so in ONE line naming the
# cause. `-t` and a real start must agree on what is a configuration error.
# Usage: tests/e2e/exit_codes.sh BUILD_DIR
source "$(dirname "$0")/lib.sh"

CAP=$CORPUS/udp/invite_sdp.pcap
failures=0

# check NAME WANT_RC WANT_TEXT MODE ARGS...: runs hepagent, compares the exit
# status, that stderr holds WANT_TEXT, and (for failures) that stderr is
# exactly one line (MODE "--"), or that its last line is the one naming the
# cause after the warnings the run logged (MODE "last").
check() {
    local name=$1 want_rc=$2 want_text=$3 mode=$4
    shift 4
    local rc=0
    timeout 20 "$HEPAGENT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
    local lines
    lines=$(wc -l <"$WORK/err")
    if [ "$rc" != "$want_rc" ]; then
        echo "FAIL $name: exit $rc, want $want_rc; stderr:"
        sed 's/^/    /' "$WORK/err"
        failures=$((failures + 1))
    elif [ -n "$want_text" ] && ! grep -qF -- "$want_text" "$WORK/err" "$WORK/out"; then
        echo "FAIL $name: output lacks \"$want_text\"; stderr:"
        sed 's/^/    /' "$WORK/err"
        failures=$((failures + 1))
    elif [ "$mode" = last ] && ! tail -n 1 "$WORK/err" | grep -qF -- "$want_text"; then
        echo "FAIL $name: the last line does not name the cause:"
        sed 's/^/    /' "$WORK/err"
        failures=$((failures + 1))
    elif [ "$want_rc" != 0 ] && [ "$mode" = -- ] && [ "$lines" != 1 ]; then
        echo "FAIL $name: $lines lines on stderr, want one:"
        sed 's/^/    /' "$WORK/err"
        failures=$((failures + 1))
    else
        echo "ok   $name (exit $rc)"
    fi
}

conf() { # conf NAME JSON: writes a config file, prints its path
    printf '%s\n' "$2" >"$WORK/$1.json"
    echo "$WORK/$1.json"
}
RULES='"rules":[{"name":"sip"}],"collectors":[]'

read -r port <<<"$(pick_ports 1)"

# -- usage errors (2) --------------------------------------------------------
check unknown-long-option 2 "unknown option --bogus" -- --bogus
check unknown-short-option 2 "unknown option -Y" -- -Y
check missing-argument 2 "-r needs an argument" -- -r
check missing-long-argument 2 "--config needs an argument" -- --config
check snaplen-range 2 '--snaplen: "10" is not a number' -- -s 10 -r "$CAP"
check capture-id-range 2 '--capture-id: "-1"' -- --capture-id -1 -r "$CAP"
check node-name-long 2 "--node-name: longer than 255" -- --node-name "$(printf 'n%.0s' {1..300})" -r "$CAP"
check count-zero 2 '--count: "0" is not a positive number' -- --count 0 -r "$CAP"
check filter-twice 2 "either with -f or after the options" -- -f udp -r "$CAP" port 5060
check bpf-words 2 'filter "port 5060 and": can' -- -r "$CAP" port 5060 and
check bpf-option 2 'filter "port 99999"' -- -f "port 99999" -r "$CAP"
check bpf-live 2 'filter "udp and and"' -- -i lo udp and and
check bpf-check 2 'filter "port and"' -- -t -r "$CAP" port and
check bpf-config 2 'config: capture[0].bpf: filter "portt 5060"' -- -c "$(conf bpf "{\"capture\":[{\"file\":\"$CAP\",\"bpf\":\"portt 5060\"}],$RULES}")"
check config-missing 2 "config: $WORK/none.json: cannot open" -- -c "$WORK/none.json"
check config-syntax 2 "JSON syntax error" -- -c "$(conf syntax '{"rules": [')"
check config-unknown-key 2 'config: (top): unknown key "rulez"' -- -t -c "$(conf unknown '{"rulez":[]}')"
check config-range 2 "config: agent.capture_id: 4294967296 is out of range" -- -c "$(conf range "{\"agent\":{\"capture_id\":4294967296},$RULES}")"
check config-empty-capture 2 'config: capture: must hold at least one source' -- -t -c "$(conf empty "{\"capture\":[],$RULES}")"
check collector-url 2 '--collector: "ftp://h:1" must start with' -- -H ftp://h:1 -r "$CAP"
check collector-twice 2 '--collector: "udp://127.0.0.1:1" given twice' -- -H udp://127.0.0.1:1 -H udp://127.0.0.1:1 -r "$CAP"
check reference-unknown 2 '--reference: "x" is not' -- --reference x
tls="{\"url\":\"tls://127.0.0.1:$port\",\"tls\":{\"ca_file\":\"$WORK/missing-ca.pem\"}}"
tlsconf=$(conf tls "{\"capture\":[{\"file\":\"$CAP\"}],\"rules\":[{\"name\":\"sip\"}],\"collectors\":[$tls]}")
check tls-file-check 2 "missing-ca.pem" -- -t -c "$tlsconf"
check tls-file-start 2 "missing-ca.pem" -- -c "$tlsconf"
spoolconf=$(conf spool "{\"capture\":[{\"file\":\"$CAP\"}],\"rules\":[{\"name\":\"sip\"}],\"collectors\":[{\"url\":\"tcp://127.0.0.1:$port\",\"spool\":true}],\"delivery\":{\"spool_dir\":\"/proc/hepagent-spool\"}}")
check spool-dir-check 2 "/proc/hepagent-spool" -- -t -c "$spoolconf"
check spool-dir-start 2 "/proc/hepagent-spool" -- -c "$spoolconf"
check keylog-dir-check 2 "key log $WORK: not a regular file" -- -t -r "$CAP" --tls-keylog "$WORK"
check keylog-dir-start 2 "key log $WORK: not a regular file" -- -r "$CAP" --tls-keylog "$WORK"
check keylog-listen-url 2 '--tls-keylog-listen: "tcp://127.0.0.1:1" is not udp://HOST:PORT' -- -r "$CAP" --tls-keylog-listen tcp://127.0.0.1:1
check keylog-listen-config 2 'config: tls_decrypt.keylog_listen: "udp://nohost:1"' -- -t -c "$(conf keylog "{\"tls_decrypt\":{\"keylog_listen\":\"udp://nohost:1\"},$RULES}")"

# -- runtime failures (1) ----------------------------------------------------
check no-interface 1 "cannot open interface nosuchif0: No such device exists" -- -i nosuchif0 -H "udp://127.0.0.1:$port"
if grep -q "No such device exists (No such device exists)" "$WORK/err"; then
    echo "FAIL no-interface: the cause is said twice"
    failures=$((failures + 1))
fi
check no-file 1 "cannot read $WORK/none.pcap: No such file or directory" -- -r "$WORK/none.pcap" -H "udp://127.0.0.1:$port"
check not-a-capture 1 "cannot read /dev/null" -- -r /dev/null -H "udp://127.0.0.1:$port"
check write-unwritable 1 "-w: cannot write" -- -r "$CAP" -w "$WORK/no/dir/x.pcap"
check hep-pcap-unwritable 1 "--hep-pcap: cannot write" -- -r "$CAP" --hep-pcap "$WORK/no/dir/x.pcap"
undeliverable=$(conf undeliverable "{\"agent\":{\"shutdown_timeout_ms\":300},\"capture\":[{\"file\":\"$CAP\"}],\"rules\":[{\"name\":\"sip\"}],\"collectors\":[{\"url\":\"tcp://127.0.0.1:$port\"}]}")
check undelivered 1 "could not be delivered before the shutdown deadline" last -c "$undeliverable"

# -- success (0) ---------------------------------------------------------------
check version 0 "hepagent " -- -V
check help 0 "Usage: hepagent" -- -h
check check-ok 0 "config OK" -- -t -r "$CAP"
check no-capture-key 0 "1 sources" -- -t -c "$(conf nocapture "{$RULES}")"
check replay 0 "" -- -q -r "$CAP" -H "udp://127.0.0.1:$port"
check keylog-later 0 "not there (yet)" -- -r "$CAP" -H "udp://127.0.0.1:$port" --tls-keylog "$WORK/later.keys"

[ "$failures" = 0 ] || { echo "$failures case(s) failed"; exit 1; }
echo "all exit codes as README promises"
