#!/usr/bin/env bash
# What CI runs: installs what is missing, builds (a normal build and an
# ASan+UBSan build), runs every test through ctest, then each fuzz target
# for FUZZ_SECONDS (default 20; 0 skips; skipped when ctest arguments are given).
# Usage: scripts/test.sh [ctest arguments, e.g. -L unit or -R pcap_udp]
set -euo pipefail
case "${1:-}" in
-h | --help)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
# The end-to-end tests are marked RUN_SERIAL; the rest run side by side.
ctest --test-dir build --output-on-failure -j"$jobs" "$@"

# Sanitizers: the unit, capture and leak tests again, with every packet byte
# read checked by AddressSanitizer, undefined behaviour fatal and
# LeakSanitizer checking hepagent's exit after a thousand reconnects.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|pcap|leak' "$@"

# Fuzzing: each libFuzzer target for a short, bounded time.
if [ $# -eq 0 ] && [ "${FUZZ_SECONDS:-20}" != 0 ]; then
    scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
