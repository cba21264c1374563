#pragma once
// Writing to a file descriptor, whole: the room file store and the client's downloads both need it.
#include <cstddef>

namespace pchat {

// Writes all `n` bytes, retrying after EINTR and short writes; false (errno set) when write(2) fails.
bool write_all(int fd, const char* data, std::size_t n);

} // namespace pchat
