#!/usr/bin/env bash
# Builds pchat, and pchatd a second time with AddressSanitizer+UBSan (build-asan/), and runs every test: unit,
# deterministic actor, end-to-end (one of them on the sanitizer pchatd), conformance (real pchatd over loopback
# SIP) and interop (pidgin-sipe through libpurple). This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh --test   # the build packages plus pidgin-sipe/libpurple-dev (tests/interop) and xsltproc
jobs="$(nproc)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
# pchatd again with AddressSanitizer and UBSan, for the e2e test that starts it and signs a client in
# (tests/e2e/sanitized/; it finds build-asan/tools/pchatd and is reported skipped, not passed, without it).
# Only pchatd: the test's client is the ordinary client library in build/. Warnings are errors in build/ already;
# here they are not, since GCC's warnings change with sanitizer instrumentation (false positives build/ lacks).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPCHAT_SANITIZE=address,undefined \
      -DBUILD_TESTING=OFF -DPCHAT_WERROR=OFF
cmake --build build-asan -j"$jobs" --target pchatd
cd build
ctest --output-on-failure -j"$jobs" --timeout 300
