#!/usr/bin/env bash
# Memory stays flat: a million IPv4 first fragments that never complete and a
# million TCP streams that open and send half a SIP message, piped through
# hepagent with small reassembly limits. The peak RSS must stay within the
# RSS of an empty run plus the configured limits, and be the same (within
# 2 MB) for 10 thousand and for a million of each.
source "$(dirname "$0")/lib.sh" "$@"
FLOOD=$BUILD/tests/flood_pcap
cat >"$WORK/limits.json" <<'JSON'
{
    "reassembly": {"ip_datagrams": 2048, "ip_memory_kb": 2048, "tcp_streams": 10000,
                   "tcp_memory_kb": 4096, "tcp_stream_kb": 64},
    "rules": [{"name": "sip"}],
    "collectors": []
}
JSON
limit_kb=$((2048 + 4096))

run() { # run N -> prints "max_rss_kb ipfrag_evicted tcp_evicted frames"
    "$FLOOD" "$1" "$1" | "$HEPAGENT" -c "$WORK/limits.json" -r - --stats 2>"$WORK/stats.$1" ||
        fail "hepagent failed on $1: $(tail -3 "$WORK/stats.$1")"
    awk '/^process.max_rss_kb /{r=$2} /^ipfrag.evicted /{f=$2} /^tcp.streams_evicted /{t=$2}
         /^frames /{n=$2} END{print r, f, t, n}' "$WORK/stats.$1"
}

read -r rss0 _ _ _ < <(run 0)
read -r rss1 fe1 te1 n1 < <(run 10000)
read -r rss2 fe2 te2 n2 < <(run 1000000)
note "empty: ${rss0} KB; 10k: ${rss1} KB ($n1 frames); 1M: ${rss2} KB ($n2 frames)"
note "1M: ipfrag.evicted $fe2, tcp.streams_evicted $te2 (limits refused what did not fit)"
[ "$n2" -eq 3000000 ] || fail "hepagent read $n2 frames, expected 3000000"
[ "$fe2" -ge 990000 ] || fail "ipfrag.evicted is $fe2: the fragment table was not bounded"
[ "$te2" -ge 990000 ] || fail "tcp.streams_evicted is $te2: the stream table was not bounded"
[ "$rss2" -le $((rss0 + limit_kb + 2048)) ] ||
    fail "peak RSS ${rss2} KB exceeds empty run ${rss0} KB + limits ${limit_kb} KB + 2 MB"
[ $((rss2 - rss1)) -le 2048 ] || fail "RSS grew from ${rss1} KB to ${rss2} KB with input size"
note "PASS memory bound: peak ${rss2} KB <= ${rss0} + ${limit_kb} + 2048 KB, flat with input size"
