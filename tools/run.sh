#!/usr/bin/env bash
# Builds pchatd (Release) and runs it on its embedded default: RocksDB under ./var/data, SIP on
# 127.0.0.1:5060 (UDP and TCP), configured by tools/pchatd.ini. A new data directory gets a demo category
# with two rooms (Lobby, Dev). Extra arguments go to pchatd, e.g. tools/run.sh --sip.port=5070
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
# Warnings are errors in CI (tools/test.sh); a server build for users should not fail over a new false positive.
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DPCHAT_WERROR=OFF
cmake --build build-release --target pchatd pchat pchatctl sipe_xml_fix
if [ ! -d var/data ]; then
  build-release/tools/pchatctl --data var/data init --demo
fi
echo "pchatd: starting; try: build-release/tools/pchat --user alice@example.com rooms   (Ctrl-C stops)"
echo "chat and room management in a browser: the web= address on pchatd's ready line (default http://127.0.0.1:8080/)"
echo "pidgin-sipe (README \"Using Pidgin or finch\"): LD_PRELOAD=$PWD/build-release/tools/sipe-xml-fix/libsipe-xml-fix.so finch"
exec build-release/tools/pchatd --config-file=tools/pchatd.ini "$@"
