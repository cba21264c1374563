#pragma once
// The words of chat text as the history index keeps them. Pure functions.
//
// A word is a run of ASCII letters and digits and of bytes >= 0x80 (so UTF-8 letters of any script stay inside
// words), ASCII-lower-cased; everything else separates words. Words longer than max_term_bytes are cut there.
// A post is indexed under each distinct word, at most max_terms_per_post of them.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pchat::storage {

inline constexpr std::size_t max_term_bytes = 64;
inline constexpr std::size_t max_terms_per_post = 256;

// Distinct words in order of first appearance.
std::vector<std::string> index_terms(std::string_view text);

} // namespace pchat::storage
