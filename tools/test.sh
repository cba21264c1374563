#!/usr/bin/env bash
# Builds pchat and runs every test: unit, deterministic actor, end-to-end, conformance (real pchatd over
# loopback SIP) and interop (pidgin-sipe through libpurple). This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh --test   # the build packages plus pidgin-sipe/libpurple-dev (tests/interop) and xsltproc
jobs="$(nproc)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
cd build
ctest --output-on-failure -j"$jobs" --timeout 300
