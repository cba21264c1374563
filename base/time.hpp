#pragma once
// The wall clock pchat stamps events with: 100-ns ticks since the Unix epoch (UTC), the resolution of XCCOS's
// and Lync's 7 fractional digits. Formatting lives with the formats (codec/xccos.hpp, compliance/).
#include <chrono>
#include <cstdint>

namespace pchat {

inline constexpr std::int64_t ticks_per_second = 10'000'000;

inline std::int64_t now_ticks() {
  using namespace std::chrono;
  return duration_cast<duration<std::int64_t, std::ratio<1, ticks_per_second>>>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace pchat
