#include "base/version.hpp"

namespace pchat {

const char* version() { return PCHAT_VERSION; }

} // namespace pchat
