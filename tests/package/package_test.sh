#!/usr/bin/env bash
# The Debian package as an admin gets it (docs/operations.md "Deploy on a server"): built by tools/test.sh into
# build-deb/ (cpack), checked for its files, dependencies and maintainer scripts, its systemd unit verified by
# systemd-analyze, and then installed into a throwaway root (dpkg-deb -x) and run for real: the store made by
# pchatctl init as the pchat user, exactly as the postinst does, `pchatctl check` clean, the installed pchatd
# started as the pchat user on the installed configuration (only its directories and ports moved into the
# throwaway root), a room added through the admin socket, a client signed in that sees it, and a clean stop.
# The maintainer scripts themselves are not run on this machine (they would install system-wide); they are
# syntax-checked, and the user they create is created here the same way. Needs root (to run as pchat): SKIPPED
# otherwise, as without build-deb/.
set -euo pipefail
source_dir="$1"
deb="$(ls "$source_dir"/build-deb/pchat_*.deb 2>/dev/null | head -n1 || true)"
if [ -z "$deb" ]; then
  echo "SKIPPED: no build-deb/pchat_*.deb (tools/test.sh builds it)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: the package test runs pchatd as the pchat user, which needs root"
  exit 0
fi
fail() {
  echo "FAILED: $*"
  exit 1
}
root="$(mktemp -d /tmp/pchat-package-XXXXXX)"
pid=""
made_user=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" || true; fi
  rm -rf "$root"
  # The host keeps no pchat user (nor group) that this test made.
  if [ -n "$made_user" ]; then deluser --quiet --system pchat >/dev/null 2>&1 || userdel pchat 2>/dev/null || true; fi
  if [ -n "$made_user" ] && getent group pchat >/dev/null; then groupdel pchat 2>/dev/null || true; fi
}
trap cleanup EXIT

# What is in the package.
info="$(dpkg-deb -I "$deb")"
for dep in libcaf-core0.17 librocksdb libsofia-sip-ua0 libssl3 adduser; do
  grep -q "Depends:.*$dep" <<<"$info" || fail "Depends lacks $dep: $info"
done
contents="$(dpkg-deb -c "$deb" | awk '{print $6}')"
for f in ./usr/bin/pchatd ./usr/bin/pchatctl ./usr/bin/pchat ./etc/pchat/pchatd.ini \
         ./usr/lib/systemd/system/pchatd.service ./usr/share/doc/pchat/copyright \
         ./etc/fail2ban/filter.d/pchat.conf ./usr/share/bash-completion/completions/pchatctl \
         ./usr/share/man/man8/pchatd.8.gz ./usr/share/man/man8/pchatctl.8.gz ./usr/share/man/man1/pchat.1.gz; do
  grep -qx "$f" <<<"$contents" || fail "the package lacks $f"
done
dpkg-deb -e "$deb" "$root/DEBIAN"
grep -qx /etc/pchat/pchatd.ini "$root/DEBIAN/conffiles" || fail "pchatd.ini is not a conffile"
for script in postinst prerm postrm; do
  sh -n "$root/DEBIAN/$script" || fail "$script does not parse"
done
grep -q 'pchatctl --config /etc/pchat/pchatd.ini --data /var/lib/pchat init' "$root/DEBIAN/postinst" ||
  fail "postinst does not make the store"

# Unpacked, and the unit verified (its commands pointed at the unpacked binaries: systemd checks they exist).
dpkg-deb -x "$deb" "$root"
unit="$root/usr/lib/systemd/system/pchatd.service"
sed "s|/usr/bin/|$root/usr/bin/|g" "$unit" >"$root/pchatd.service"
systemd-analyze verify --man=no "$root/pchatd.service" || fail "systemd-analyze verify"
for setting in User=pchat StateDirectory=pchat RuntimeDirectory=pchat LimitNOFILE= NoNewPrivileges=yes \
               ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
  grep -q "^$setting" "$unit" || fail "the unit lacks $setting"
done
config="$root/etc/pchat/pchatd.ini"
grep -q '^data-dir="/var/lib/pchat"' "$config" || fail "the packaged configuration does not use /var/lib/pchat"
grep -q '^run-dir="/run/pchat"' "$config" || fail "the packaged configuration does not use /run/pchat"

# The pchat system user, as the postinst makes it.
if ! getent passwd pchat >/dev/null; then
  adduser --quiet --system --group --home /var/lib/pchat --no-create-home --gecos "pchat Persistent Chat" pchat >/dev/null
  made_user=yes
fi
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
sip_port="$(free_port)"
web_port="$(free_port)"
# The installed configuration with its directories moved into the throwaway root and free ports: nothing else.
sed -e "s|\"/var/lib/pchat\"|\"$root/var/lib/pchat\"|" -e "s|\"/run/pchat\"|\"$root/run/pchat\"|" \
    -e "/^\[sip\]/,/^\[/ s|^port=5060$|port=$sip_port|" -e "/^\[web\]/,/^\[/ s|^port=8080$|port=$web_port|" \
    "$config" >"$root/pchatd.ini"
grep -q "^port=$sip_port" "$root/pchatd.ini" || fail "could not move sip.port"
chmod 755 "$root"
install -d -o pchat -g pchat -m 0750 "$root/var/lib/pchat" "$root/run/pchat"
chown root:pchat "$root/pchatd.ini"
chmod 0640 "$root/pchatd.ini"
# setpriv execs (runuser would fork and stay the parent), so the pid of pchatd below is pchatd's own.
as_pchat() { setpriv --reuid=pchat --regid=pchat --init-groups -- "$@"; }
ctl() { as_pchat "$root/usr/bin/pchatctl" --config "$root/pchatd.ini" "$@"; }

ctl init || fail "pchatctl init as pchat"
ctl check || fail "pchatctl check"
setpriv --reuid=pchat --regid=pchat --init-groups -- "$root/usr/bin/pchatd" --config-file="$root/pchatd.ini" \
  >"$root/pchatd.out" 2>"$root/pchatd.log" &
pid=$!
for _ in $(seq 1 200); do
  grep -q "pchatd ready" "$root/pchatd.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$root/pchatd.log"; fail "pchatd exited at start-up"; }
  sleep 0.1
done
grep -q "pchatd ready" "$root/pchatd.out" || { cat "$root/pchatd.log"; fail "pchatd did not get ready"; }
[ "$(ps -o user= -p "$pid" | tr -d ' ')" = pchat ] || fail "pchatd does not run as pchat"
[ "$(stat -c %U "$root/run/pchat/pchatd.sock")" = pchat ] || fail "the admin socket is not in the run directory"
ctl category add General >/dev/null || fail "pchatctl category add through the admin socket"
ctl room add Lobby --category General >/dev/null || fail "pchatctl room add through the admin socket"
rooms="$("$root/usr/bin/pchat" --server "127.0.0.1:$sip_port" --user alice@example.com rooms)" ||
  fail "pchat could not sign in: $rooms"
grep -q Lobby <<<"$rooms" || fail "pchat does not see the room: $rooms"
# The man pages render, and pchatctl's bash completion completes a command and a room name of the store.
zcat "$root/usr/share/man/man8/pchatctl.8.gz" | grep -q "history clear" || fail "pchatctl(8) lacks its commands"
completed="$(PATH="$root/usr/bin:$PATH" bash -c "source '$root/usr/share/bash-completion/completions/pchatctl'
  COMP_WORDS=(pchatctl ro); COMP_CWORD=1; _pchatctl; echo \"\${COMPREPLY[*]}\"
  COMP_WORDS=(pchatctl --config '$root/pchatd.ini' room show Lo); COMP_CWORD=5; _pchatctl; echo \"\${COMPREPLY[*]}\"")"
[ "$completed" = "$(printf 'room\nLobby')" ] || fail "bash completion gave: $completed"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { cat "$root/pchatd.log"; fail "pchatd stopped with status $status"; }
[ "$(stat -c %U "$root/var/lib/pchat/CURRENT")" = pchat ] || fail "the store is not pchat's"
echo "package: $(basename "$deb") installed into $root, pchatd ran as pchat, alice saw Lobby, stopped cleanly"
