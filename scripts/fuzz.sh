#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# SECONDS (default 60), seeded from the repository's captures, configs and
# HEP vectors. A crash is copied to tests/fuzz/regressions/TARGET/, where
# every build's ctest replays it from then on.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: decode sip config hep pcapng spool rtp hepin redact sdp rtcp media keylog tlsrecord)
set -euo pipefail
case "${1:-}" in
-h | --help)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode sip config hep pcapng spool rtp hepin redact sdp rtcp media keylog tlsrecord)
cd "$(dirname "$0")/.."
command -v clang >/dev/null || scripts/install-deps.sh
CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
seeds=build-fuzz/seeds
rm -rf "$seeds"
python3 tests/fuzz/make_seeds.py "$seeds"
status=0
for t in "${targets[@]}"; do
    corpus=build-fuzz/corpus/$t
    crashes=build-fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes" "$seeds/$t"
    echo "== fuzz_$t for ${seconds}s"
    if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz_$t "$corpus" "$seeds/$t" \
        tests/fuzz/regressions/$t -max_total_time="$seconds" -max_len=65536 -timeout=10 \
        -rss_limit_mb=1024 -artifact_prefix="$crashes/" -print_final_stats=1 \
        2>"build-fuzz/fuzz_$t.log"; then
        status=1
        for f in "$crashes"/*; do
            [ -f "$f" ] || continue
            cp "$f" "tests/fuzz/regressions/$t/"
            echo "   crash: $f -> tests/fuzz/regressions/$t/$(basename "$f")"
        done
        tail -30 "build-fuzz/fuzz_$t.log"
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "build-fuzz/fuzz_$t.log" |
        sed 's/^/   /' || true
done
exit $status
