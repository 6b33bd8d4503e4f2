# Sourced first (before lib.sh) by a test that needs a loopback of its own,
# where no other test's traffic can change what it counts:
#   NETNS_NAME=name source "$(dirname "$0")/netns.sh"
# runs the test again inside a new network namespace (lo up), then removes
# the namespace and exits with the test's status.
if [ -z "${E2E_NETNS:-}" ]; then
    E2E_NETNS=${NETNS_NAME:-e2e}-$$
    ip netns add "$E2E_NETNS" || { echo "FAIL: cannot create network namespace $E2E_NETNS" >&2; exit 1; }
    ip netns exec "$E2E_NETNS" ip link set lo up
    netns_rc=0
    E2E_NETNS=$E2E_NETNS ip netns exec "$E2E_NETNS" bash "$0" "$@" || netns_rc=$?
    ip netns del "$E2E_NETNS"
    exit $netns_rc
fi
