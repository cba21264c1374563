#!/usr/bin/env bash
# Installs the Debian bookworm packages pchat needs, if any is missing (apt-get; sudo when not root).
# Used by tools/run.sh and tools/test.sh so that both work on a fresh machine.
set -euo pipefail
packages=(g++ cmake ninja-build ccache pkg-config
          libcaf-dev libsofia-sip-ua-dev librocksdb-dev libtinyxml2-dev catch2
          xsltproc)   # xsltproc: the compliance XSLT test (tests/compliance/xslt_test.cpp)
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
