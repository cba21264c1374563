#!/usr/bin/env bash
# Installs the Debian bookworm packages pchat needs, if any is missing (apt-get; sudo when not root).
# Used by tools/run.sh and tools/test.sh so that both work on a fresh machine.
#   tools/deps.sh          what building and running pchatd needs
#   tools/deps.sh --test   that plus what the tests need: pidgin-sipe and libpurple-dev for tests/interop (the real
#                          client driven through libpurple), xsltproc for the compliance XSLT test, chromium and
#                          chromium-driver for the web page's browser test, clang and libclang-rt-14-dev for the
#                          fuzz harnesses
set -euo pipefail
packages=(g++ cmake ninja-build ccache pkg-config
          libcaf-dev libsofia-sip-ua-dev librocksdb-dev libtinyxml2-dev catch2
          libpq-dev    # the PostgreSQL store of a pool (storage/pg_store.cpp)
          libssl-dev   # libcrypto: SIP Digest (MD5, SHA-256, HMAC nonces)
          libcpp-httplib-dev nlohmann-json3-dev  # the web services (web/)
          libcli11-dev  # command-line options of the programs (header-only)
          libxml2-dev)  # for tools/sipe-xml-fix, the preload library stock pidgin-sipe needs on Debian 12
# What only the tests need: pidgin-sipe for tests/interop, xsltproc for the compliance XSLT test.
# chromium + chromium-driver: the room-management page is tested in a real headless browser (tests/web).
# clang + libclang-rt-14-dev (libFuzzer and clang's sanitizer runtimes): the fuzz harnesses (fuzz/, build-fuzz/).
# dpkg-dev (dpkg-shlibdeps, for cpack's package dependencies), systemd (systemd-analyze verify), adduser: the
# Debian package's test (tests/package); help2man: the package's man pages. fail2ban: fail2ban-regex checks the packaged filter (tests/e2e/logs_test.cpp).
# postgresql-15: the storage suite's second run and the pool tests start a PostgreSQL server of their own in a
# temporary directory (tests/support/pg_server.hpp); the package's own cluster is not used.
test_packages=(pidgin-sipe libpurple-dev xsltproc chromium chromium-driver clang libclang-rt-14-dev fail2ban
               dpkg-dev systemd adduser help2man postgresql-15)
if [ "${1:-}" = "--test" ]; then
  packages+=("${test_packages[@]}")
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tools/deps.sh: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
