#!/usr/bin/env bash
source "$(dirname "$0")/lib.sh" "$@"
# --pps N paces a file replay at N frames per second (as tcpreplay), for a
# collector on another host that drops what arrives faster than it reads.
# A capture whose frames all share one timestamp (so only --pps paces it) is
# replayed at 200, 1000 and 5000 frames/s, 1.5 s each, twice, to a UDP
# receiver that notes each arrival:
#   * every frame arrives, in order;
#   * the rate measured from first to last arrival is within 7% of N;
#   * it is steady: no 100 ms window holds more than N/10 frames plus the
#     50 ms of catching up hepagent allows after a stall (N/20) plus 2 (the
#     pacing timer counts whole milliseconds: 5000/s leaves in bursts of 5);
#   * without --pps the frames arrive at over 20000/s (this Python receiver
#     with a 4 MB buffer then drops some: the reason --pps exists);
#   * --pps with --realtime, or without a file, is a usage error (exit 2).

# replay NAME COUNT ARGS...: hepagent -r on a capture of COUNT frames to a
# fresh receiver; the arrivals go to $WORK/NAME.json
replay() {
    [ -f "$WORK/n$2.pcap" ] || "$PYTHON" "$E2E_DIR/pacing.py" make-n "$WORK/n$2.pcap" "$2"
    "$PYTHON" "$E2E_DIR/pacing.py" replay "$WORK/$1.json" "$2" "$WORK/n$2.pcap" "$HEPAGENT" \
        "${@:3}" || fail "$1: hepagent failed"
}

for run in 1 2; do
    for rate in 200 1000 5000; do replay "r$rate-$run" $((rate * 3 / 2)) --pps $rate; done
done
replay fast 7500

"$PYTHON" - "$WORK" <<'PY' || fail "--pps did not keep the rate"
import json, sys
work = sys.argv[1]
for run in (1, 2):
    for rate in (200, 1000, 5000):
        n = rate * 3 // 2
        got = json.load(open(f"{work}/r{rate}-{run}.json"))
        assert [c for c, _ in got] == [f"pace-{i}" for i in range(n)], \
            f"{rate}/s run {run}: {len(got)} of {n} arrived, or out of order"
        t = [x for _, x in got]
        measured = (n - 1) / (t[-1] - t[0])
        # the most frames in any 100 ms window
        most, j = 0, 0
        for i in range(n):
            while t[i] - t[j] >= 0.1:
                j += 1
            most = max(most, i - j + 1)
        print(f"   --pps {rate} run {run}: {n} frames at {measured:.0f}/s "
              f"({(measured / rate - 1) * 100:+.1f}%), at most {most} in 100 ms")
        assert abs(measured / rate - 1) <= 0.07, f"{rate}/s: measured {measured:.0f}/s"
        assert most <= rate * 0.15 + 2, f"{rate}/s: {most} frames within 100 ms"
fast = json.load(open(f"{work}/fast.json"))
span = fast[-1][1] - fast[0][1]
print(f"   without --pps: {len(fast)} of 7500 frames arrived, in {span * 1000:.0f} ms "
      f"({(len(fast) - 1) / span:.0f}/s)")
assert (len(fast) - 1) / span > 20000, "without --pps the replay was paced too"
PY

for args in "--pps 100 --realtime -r $WORK/n300.pcap" "--pps 100 -i lo" "--pps 0 -r $WORK/n300.pcap"; do
    rc=0
    # shellcheck disable=SC2086
    "$HEPAGENT" $args -H udp://127.0.0.1:9 2>"$WORK/usage.err" || rc=$?
    [ "$rc" = 2 ] || fail "hepagent $args: exit $rc, want 2"
    note "$args: $(cat "$WORK/usage.err")"
done
note PASS
