#pragma once
// The page's files (web/static/), built into the binary by web/embed.cmake so pchatd serves them without an
// installed directory. web.static-dir serves a directory instead (editing the page without a rebuild).
#include <cstddef>

namespace pchat::web {

struct asset {
  const char* path;         // "/index.html"
  const char* content_type; // "text/html; charset=utf-8"
  const unsigned char* data;
  std::size_t size;
};

extern const asset assets[];
extern const std::size_t asset_count;

} // namespace pchat::web
