#include "storage/text_index.hpp"

#include <algorithm>

namespace pchat::storage {

std::vector<std::string> index_terms(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && out.size() < max_terms_per_post &&
        std::find(out.begin(), out.end(), word) == out.end())
      out.push_back(word);
    word.clear();
  };
  for (char ch : text) {
    auto b = static_cast<unsigned char>(ch);
    bool in_word = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80;
    if (!in_word) {
      flush();
      continue;
    }
    if (word.size() < max_term_bytes)
      word.push_back(b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : ch);
  }
  flush();
  return out;
}

} // namespace pchat::storage
