#pragma once
// Text helpers for jobs over text: the word tokenizer that word count uses.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mapreduce {

namespace detail {
// Byte classes: 0 separates words, 1 is part of a word, 2 is an upper-case ASCII letter.
inline constexpr std::array<std::uint8_t, 256> word_byte_class = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) t[c] = 1;
    if (c >= 'A' && c <= 'Z') t[c] = 2;
  }
  return t;
}();
}  // namespace detail

/// Calls `f(std::string_view word)` for each word of `text`, in order.
///
/// A word is a maximal run of bytes that are ASCII letters, ASCII digits, or any byte of
/// 0x80 or above (so UTF-8 encoded words stay whole); every other byte separates words.
/// ASCII letters are lower-cased; other bytes are passed as they are. The view is valid
/// only during the call (a lower-cased word lives in a reused buffer).
///
///     mapreduce::for_each_word("Hello, wORLD 42", [](std::string_view w) { ... });
///     // "hello", "world", "42"
template <class F>
void for_each_word(std::string_view text, F&& f) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  const auto& cls = detail::word_byte_class;
  std::string lowered;
  while (p != end) {
    while (p != end && cls[*p] == 0) ++p;
    if (p == end) break;
    const auto* const start = p;
    std::uint8_t seen = 0;
    while (p != end && cls[*p] != 0) seen |= cls[*p++];
    const std::size_t n = static_cast<std::size_t>(p - start);
    if ((seen & 2) == 0) {
      f(std::string_view(reinterpret_cast<const char*>(start), n));
    } else {
      lowered.assign(reinterpret_cast<const char*>(start), n);
      for (char& c : lowered) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
      }
      f(std::string_view(lowered));
    }
  }
}

}  // namespace mapreduce
