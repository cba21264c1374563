#!/usr/bin/env bash
# Builds pchat, pchatd a second time with AddressSanitizer+UBSan (build-asan/) and the fuzz harnesses with clang
# (build-fuzz/), and runs every test: unit, deterministic actor, end-to-end (one of them on the sanitizer pchatd),
# conformance (real pchatd over loopback SIP), interop (pidgin-sipe through libpurple) and a bounded fuzzing run
# of every parser that reads what others send. This is the README's test command; .ci/run runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh --test   # the build packages plus pidgin-sipe/libpurple-dev (tests/interop), xsltproc, clang, ...
jobs="$(nproc)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
# pchatd again with AddressSanitizer and UBSan: the "asan e2e/conformance/web/interop" tests run those suites once
# more against it, and tests/e2e/sanitized/ starts it with the shipped configuration (docs/security.md
# "Fuzzing and sanitizers"; all of them are reported skipped, not passed, without build-asan/tools/pchatd).
# Only pchatd: the test's client is the ordinary client library in build/. Warnings are errors in build/ already;
# here they are not, since GCC's warnings change with sanitizer instrumentation (false positives build/ lacks).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPCHAT_SANITIZE=address,undefined \
      -DBUILD_TESTING=OFF -DPCHAT_WERROR=OFF
cmake --build build-asan -j"$jobs" --target pchatd
# The Debian package as a user builds it (packaging/, docs/operations.md "Deploy on a server"): the installed
# prefix /usr, only the three programs, then cpack; tests/package installs and runs it (skipped without it).
cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
      -DPCHAT_WERROR=OFF
cmake --build build-deb -j"$jobs" --target pchatd pchatctl pchat man_pages
(cd build-deb && cpack -G DEB >/dev/null)
# The libFuzzer harnesses (fuzz/, docs/fuzzing.md) with clang, AddressSanitizer and UBSan in build-fuzz/: only they
# and the libraries they link. ctest runs each for 30 s ("fuzz: <target> for 30 s under ASan+UBSan"; reported
# skipped, not passed, without build-fuzz/) and replays every seed and kept reproducer with the g++ build.
JOBS="$jobs" tools/fuzz.sh --build
cd build
ctest --output-on-failure -j"$jobs" --timeout 300
