#!/usr/bin/env bash
source "$(dirname "$0")/../e2e/lib.sh" "$@"
# The Debian package, the way an operator meets it:
#   1. build it (a /usr-prefix Release build kept in BUILD/deb-build, so a
#      second run only packages again), dpkg-deb -c / -I: the files where
#      Debian wants them (binary, config, unit, both man pages, copyright), the libraries found by dpkg-shlibdeps, the conffile;
#      lintian when installed (its findings are printed; errors fail, as do
#      warnings other than those listed below with the reason);
#   2. dpkg -i: the hepagent system user, /var/lib/hepagent owned by it, the
#      config readable by its group only, the unit installed but neither
#      enabled nor started; the installed binary captures as that user with
#      only the unit's two capabilities (in a network namespace) and then
#      holds none; -t accepts the installed config;
#   3. upgrade to a higher version: the administrator's config changes and
#      permissions stay, an enabled service stays enabled, same user;
#   4. dpkg -r keeps the config; dpkg --purge leaves nothing behind (every
#      path under /etc, /var/lib, /lib/systemd, /usr as before the install),
#      except the system user, which Debian's practice keeps.
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
command -v cpack >/dev/null || fail "cpack (cmake) is missing"
if dpkg-query -W -f='${Status}' hepagent 2>/dev/null | grep -q installed; then
    fail "a hepagent package is already installed on this machine; the test would remove it"
fi

# lintian warnings that do not apply to a package built outside the archive
LINTIAN_ACCEPTED=(
    initial-upload-closes-no-bugs # no ITP bug: the package is not uploaded to Debian
)

DEB_BUILD=$BUILD/deb-build
snapshot() {
    find /etc /var/lib /lib/systemd /usr/lib/systemd /usr/sbin /usr/share/doc /usr/share/man \
        -xdev 2>/dev/null | grep -v -e '^/var/lib/dpkg/' -e '^/var/lib/apt/' -e '^/etc/ld.so.cache' \
        -e '^/var/lib/ucf/' -e '^/var/lib/systemd/deb-systemd-helper-enabled$' | sort
}
installed_cleanup() {
    dpkg --purge hepagent >/dev/null 2>&1 || true
    e2e_cleanup
}
trap installed_cleanup EXIT

# ---- 1. build, inspect ----------------------------------------------------------
build_deb() { # RELEASE
    cmake -S "$REPO" -B "$DEB_BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
        -DBUILD_TESTING=OFF -DCPACK_DEBIAN_PACKAGE_RELEASE="$1" >"$WORK/cmake.log" 2>&1 ||
        { cat "$WORK/cmake.log" >&2; fail "cmake failed"; }
    cmake --build "$DEB_BUILD" -j"$(nproc)" >>"$WORK/cmake.log" 2>&1 ||
        { tail -30 "$WORK/cmake.log" >&2; fail "the build failed"; }
    rm -f "$DEB_BUILD"/hepagent_*.deb
    (cd "$DEB_BUILD" && cpack -G DEB >>"$WORK/cmake.log" 2>&1) ||
        { tail -30 "$WORK/cmake.log" >&2; fail "cpack failed"; }
    DEB=$(ls "$DEB_BUILD"/hepagent_*-"$1"_*.deb)
    cp "$DEB" "$WORK/"
    DEB=$WORK/$(basename "$DEB")
}
build_deb 1
DEB1=$DEB
VERSION1=$(dpkg-deb -f "$DEB1" Version)
note "built $(basename "$DEB1") ($(stat -c %s "$DEB1") bytes)"

dpkg-deb -c "$DEB1" | awk '{ print $1, $2, $6 }' >"$WORK/contents.txt"
want_file() { # MODE PATH
    grep -qxF -- "$1 root/root ./$2" "$WORK/contents.txt" ||
        { cat "$WORK/contents.txt" >&2; fail "the package lacks $2 ($1 root/root)"; }
}
want_file -rwxr-xr-x usr/sbin/hepagent
want_file -rw-r--r-- etc/hepagent/hepagent.json
want_file -rw-r--r-- lib/systemd/system/hepagent.service
want_file -rw-r--r-- usr/share/doc/hepagent/copyright
want_file -rw-r--r-- usr/share/doc/hepagent/changelog.Debian.gz
want_file -rw-r--r-- usr/share/man/man8/hepagent.8.gz
want_file -rw-r--r-- usr/share/man/man5/hepagent.json.5.gz
! grep -qE '\./usr/local|hep_sink|bench_|test_' "$WORK/contents.txt" ||
    fail "the package holds files it should not: $(grep -E 'usr/local|hep_sink|bench_|test_' "$WORK/contents.txt")"
dpkg-deb -f "$DEB1" Depends >"$WORK/depends.txt"
for lib in libpcap0.8 libuv1 libjson-c5 zlib1g libssl3 libcap-ng0 libmicrohttpd12 adduser; do
    grep -q "\b$lib\b" "$WORK/depends.txt" || fail "Depends lacks $lib: $(cat "$WORK/depends.txt")"
done
dpkg-deb --ctrl-tarfile "$DEB1" | tar -xO ./conffiles >"$WORK/conffiles"
grep -qx /etc/hepagent/hepagent.json "$WORK/conffiles" || fail "hepagent.json is not a conffile"
ExecStart=$(dpkg-deb --fsys-tarfile "$DEB1" | tar -xO ./lib/systemd/system/hepagent.service | grep '^ExecStart=')
[ "$ExecStart" = "ExecStart=/usr/sbin/hepagent -c /etc/hepagent/hepagent.json" ] ||
    fail "the packaged unit says $ExecStart"
note "1: contents, Depends ($(tr -d '\n' <"$WORK/depends.txt")), conffile, unit"

if command -v lintian >/dev/null; then
    lintian --allow-root "$DEB1" >"$WORK/lintian.txt" 2>&1 || true
    sed 's/^/   lintian: /' "$WORK/lintian.txt"
    bad=$(grep -E '^[EW]: ' "$WORK/lintian.txt" | grep -vF -f <(printf '%s\n' "${LINTIAN_ACCEPTED[@]}") || true)
    [ -z "$bad" ] || fail "lintian: $bad"
    note "1: lintian: $(grep -cE '^[EW]: ' "$WORK/lintian.txt") findings, all accepted"
else
    note "1: lintian not installed: skipped"
fi

# ---- 2. install, run ----------------------------------------------------------------
snapshot >"$WORK/before.txt"
dpkg -i "$DEB1" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg -i failed"; }
getent passwd hepagent >/dev/null || fail "no hepagent user after dpkg -i"
IFS=: read -r _ _ HUID HGID _ HHOME HSHELL <<<"$(getent passwd hepagent)"
((HUID < 1000)) || fail "hepagent is uid $HUID: not a system user"
[ "$HSHELL" = /usr/sbin/nologin ] || fail "hepagent's shell is $HSHELL"
[ "$(getent group hepagent | cut -d: -f3)" = "$HGID" ] || fail "hepagent's group is not its own"
[ "$(stat -c '%U:%G %a' /var/lib/hepagent)" = "hepagent:hepagent 750" ] ||
    fail "/var/lib/hepagent is $(stat -c '%U:%G %a' /var/lib/hepagent)"
[ "$(stat -c '%U:%G %a' /etc/hepagent/hepagent.json)" = "root:hepagent 640" ] ||
    fail "/etc/hepagent/hepagent.json is $(stat -c '%U:%G %a' /etc/hepagent/hepagent.json)"
! ls /etc/systemd/system/*/hepagent.service >/dev/null 2>&1 || fail "dpkg -i enabled the service"
[ -f /lib/systemd/system/hepagent.service ] || fail "no unit installed"
/usr/sbin/hepagent -t -c /etc/hepagent/hepagent.json >/dev/null || fail "-t rejects the installed config"
for page in "8 hepagent" "5 hepagent.json"; do
    # shellcheck disable=SC2086
    [ "$(MANPATH=/usr/share/man man -w $page 2>/dev/null)" = "/usr/share/man/man${page%% *}/${page#* }.${page%% *}.gz" ] ||
        fail "man $page does not find the installed page"
done
note "2: installed: user hepagent (uid $HUID), /var/lib/hepagent 750, config root:hepagent 640, not enabled"

# run it as the unit does: user hepagent, only CAP_NET_RAW + CAP_NET_ADMIN
NS=i12-deb-$$
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
CAPS=+net_raw,+net_admin
ip netns exec "$NS" setpriv --reuid=hepagent --regid=hepagent --init-groups \
    --inh-caps=-all,$CAPS --ambient-caps=-all,$CAPS --bounding-set=-all,$CAPS \
    -- /usr/sbin/hepagent -c /etc/hepagent/hepagent.json -i lo -H udp://127.0.0.1:9060 \
    --stats 2>"$WORK/run.log" &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do grep -q "capturing on" "$WORK/run.log" && break; sleep 0.05; done
grep -q "capturing on" "$WORK/run.log" || { cat "$WORK/run.log" >&2; fail "the installed hepagent did not start"; }
ip netns exec "$NS" "$PYTHON" -c '
import socket, time
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 9060)); r.settimeout(5)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n"
         b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: deb-test@1\r\n"
         b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", 5060))
data = r.recv(65535)
assert data[:4] == b"HEP3" and b"deb-test@1" in data, data[:40]
' || { cat "$WORK/run.log" >&2; fail "the installed hepagent did not send the captured message"; }
# ip netns exec and setpriv exec: the pid is hepagent's
[ "$(awk '/^Name:/ { print $2 }' "/proc/$AGENT_PID/status")" = hepagent ] || fail "pid $AGENT_PID is not hepagent"
[ "$(awk '/^CapEff:/ { print $2 }' "/proc/$AGENT_PID/status")" = 0000000000000000 ] ||
    fail "the installed hepagent kept capabilities"
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$AGENT_PID/status")" = "$HUID" ] || fail "not running as hepagent"
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10 || fail "hepagent still running 10 s after SIGTERM"
AGENT_PID=
ip netns del "$NS"
note "2: ran as hepagent with the unit's capabilities: captured, sent, then CapEff 0"

# ---- 3. upgrade -----------------------------------------------------------------------
sed -i 's/"capture_id": 2001/"capture_id": 4242/' /etc/hepagent/hepagent.json
grep -q '"capture_id": 4242' /etc/hepagent/hepagent.json || fail "could not edit the config"
systemctl enable hepagent.service >/dev/null 2>&1 || fail "systemctl enable (offline) failed"
[ -L /etc/systemd/system/multi-user.target.wants/hepagent.service ] || fail "enable made no symlink"
build_deb 2
DEB2=$DEB
VERSION2=$(dpkg-deb -f "$DEB2" Version)
dpkg --compare-versions "$VERSION2" gt "$VERSION1" || fail "$VERSION2 is not newer than $VERSION1"
dpkg -i "$DEB2" >"$WORK/dpkg2.log" 2>&1 </dev/null || { cat "$WORK/dpkg2.log" >&2; fail "the upgrade failed"; }
[ "$(dpkg-query -W -f='${Version}' hepagent)" = "$VERSION2" ] || fail "still not $VERSION2 after the upgrade"
grep -q '"capture_id": 4242' /etc/hepagent/hepagent.json || fail "the upgrade replaced the edited config"
[ "$(stat -c '%U:%G %a' /etc/hepagent/hepagent.json)" = "root:hepagent 640" ] ||
    fail "the upgrade changed the config's permissions: $(stat -c '%U:%G %a' /etc/hepagent/hepagent.json)"
[ -L /etc/systemd/system/multi-user.target.wants/hepagent.service ] || fail "the upgrade disabled the service"
[ "$(id -u hepagent)" = "$HUID" ] || fail "the upgrade changed the user"
note "3: upgraded $VERSION1 -> $VERSION2: edited config and its permissions kept, still enabled, same user"

# ---- 4. remove, purge ------------------------------------------------------------------
dpkg -r hepagent >"$WORK/dpkg3.log" 2>&1 || { cat "$WORK/dpkg3.log" >&2; fail "dpkg -r failed"; }
[ ! -e /usr/sbin/hepagent ] || fail "dpkg -r left the binary"
[ -f /etc/hepagent/hepagent.json ] || fail "dpkg -r removed the config (a conffile stays until purge)"
dpkg --purge hepagent >"$WORK/dpkg4.log" 2>&1 || { cat "$WORK/dpkg4.log" >&2; fail "dpkg --purge failed"; }
snapshot >"$WORK/after.txt"
if ! diff "$WORK/before.txt" "$WORK/after.txt" >"$WORK/left.txt"; then
    # adduser's backups of the account files are not ours
    grep -vE '^> /etc/(passwd|group|shadow|gshadow)-$' "$WORK/left.txt" | grep '^[<>]' >"$WORK/left2.txt" || true
    [ ! -s "$WORK/left2.txt" ] || { cat "$WORK/left2.txt" >&2; fail "the purge left these behind (>) or removed these (<)"; }
fi
getent passwd hepagent >/dev/null || fail "the purge removed the hepagent user (kept by design)"
note "4: dpkg -r kept the config; --purge left nothing behind but the hepagent system user"
note PASS
