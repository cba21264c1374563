#!/usr/bin/env bash
# The libFuzzer harnesses of fuzz/ under AddressSanitizer and UBSan (docs/fuzzing.md).
#
#   tools/fuzz.sh [SECONDS] [TARGET...]   build build-fuzz/ (clang) and run each harness (all by default) for
#                                         SECONDS (default 30), one after the other
#   tools/fuzz.sh --build                 only configure and build build-fuzz/ (tools/test.sh does this)
#   tools/fuzz.sh --list                  the harnesses
#   tools/fuzz.sh --run TARGET SECONDS [BUILD_DIR]
#                                         run one harness that is built already: ctest's "fuzz: TARGET for N s
#                                         under ASan+UBSan"; exits 77 (ctest: skipped) when BUILD_DIR (default
#                                         build-fuzz) does not have it
#
# A run fuzzes in BUILD_DIR/fuzz-work/TARGET/corpus, kept between runs so that a long run builds on earlier ones,
# with fuzz/corpus/TARGET/ as seeds that are only read. A crash, an exception, a sanitizer report, a leak, an
# input that takes over 10 s or a process over 2 GiB fails the run and prints the reproducer's path, kept in
# BUILD_DIR/fuzz-work/TARGET/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

targets() {
  sed -n 's/^pchat_fuzzer(\([a-z0-9_]*\) .*/\1/p' fuzz/CMakeLists.txt
}

build() {
  # Only the harnesses and the libraries they link: the rest of the project is not built here. Warnings are not
  # errors (clang's differ from g++'s, and build/ has -Werror already).
  local jobs="${JOBS:-$(nproc)}"
  if [ ! -f build-fuzz/CMakeCache.txt ]; then
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPCHAT_FUZZ=ON \
      -DBUILD_TESTING=OFF -DPCHAT_WERROR=OFF
  fi
  cmake --build build-fuzz -j"$jobs" --target pchat_fuzzers
}

run_one() {
  local target="$1" seconds="$2" dir="${3:-build-fuzz}"
  local bin="$dir/fuzz/${target}_fuzz"
  if [ ! -x "$bin" ]; then
    echo "SKIPPED: $bin is not built (tools/fuzz.sh --build builds it with clang; tools/test.sh does too)"
    exit 77
  fi
  local seeds="fuzz/corpus/$target" work="$dir/fuzz-work/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1
              -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  if [ -f "fuzz/$target.dict" ]; then
    args+=(-dict="fuzz/$target.dict")
  fi
  if [ -f "fuzz/$target.options" ]; then
    local extra
    mapfile -t extra < <(grep -v '^[[:space:]]*\(#\|$\)' "fuzz/$target.options")
    args+=("${extra[@]}")
  fi
  local log="$work/last-run.log"
  echo "fuzz: $target for $seconds s: $bin ${args[*]} $work/corpus $seeds"
  local started=$SECONDS
  # UB aborts (the build says -fno-sanitize-recover); a stack for every UBSan report; leaks are checked after
  # every input that allocated more than it freed (libFuzzer's -detect_leaks, on by default with ASan).
  if UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" "$bin" "${args[@]}" "$work/corpus" "$seeds" \
       >"$log" 2>&1; then
    local runs
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "fuzz: $target: ${runs:-?} inputs in $((SECONDS - started)) s, $(find "$work/corpus" -type f | wc -l)" \
         "in its working corpus, nothing found"
    return 0
  fi
  tail -n 80 "$log"
  local reproducer
  reproducer="$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)"
  echo "fuzz: $target FAILED after $((SECONDS - started)) s (whole log: $log)"
  if [ -n "$reproducer" ]; then
    echo "fuzz: reproducer: $reproducer"
    echo "fuzz: run it again with: $bin $reproducer"
  fi
  return 1
}

case "${1:-}" in
  --build)
    build
    ;;
  --list)
    targets
    ;;
  --run)
    [ $# -ge 3 ] || { echo "usage: tools/fuzz.sh --run TARGET SECONDS [BUILD_DIR]" >&2; exit 2; }
    run_one "$2" "$3" "${4:-build-fuzz}"
    ;;
  -h|--help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d'
    ;;
  *)
    seconds=30
    if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
      seconds="$1"
      shift
    fi
    if [ $# -eq 0 ]; then
      mapfile -t run < <(targets)
    else
      run=("$@")
      for t in "${run[@]}"; do
        targets | grep -qx "$t" || { echo "tools/fuzz.sh: no harness $t (tools/fuzz.sh --list)" >&2; exit 2; }
      done
    fi
    build
    failed=()
    for t in "${run[@]}"; do
      run_one "$t" "$seconds" build-fuzz || failed+=("$t")
    done
    if ((${#failed[@]})); then
      echo "fuzz: findings in ${failed[*]}"
      exit 1
    fi
    echo "fuzz: ${#run[@]} harnesses, $seconds s each, nothing found"
    ;;
esac
