#pragma once
// pchat's version (the CMake project version), for --version, the SIP User-Agent and pchat_build_info.

namespace pchat {

const char* version();

} // namespace pchat
