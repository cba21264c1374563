#pragma once
// What every harness in fuzz/ shares: the libFuzzer entry point's signature and the check that stops a run on a
// broken property (docs/fuzzing.md). A harness calls the real parser on the bytes it is given and, where a
// writer exists, checks that what the parser accepted is written and read back the same.
//
// A violated check prints what broke and traps, which libFuzzer reports as a crash and saves the input as a
// reproducer; an exception that escapes a parser ends the run through std::terminate, reported the same way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#define PCHAT_FUZZ_CHECK(cond) ((cond) ? (void)0 : ::pchat::fuzz::violated(#cond, __FILE__, __LINE__))

namespace pchat::fuzz {

[[noreturn]] inline void violated(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz: property violated: %s (%s:%d)\n", what, file, line);
  std::fflush(stderr);
  __builtin_trap();
}

inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace pchat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
