#pragma once
// Text helpers for jobs over text: the word tokenizer that word count uses.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "mapreduce/hash.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace detail {

// Where a word with capitals is lower-cased: up to 64 bytes in `small`, longer in `large`.
struct LoweredWord {
  char small[64];
  std::string large;
};

#if defined(__SSE2__)
// 16 bytes with ASCII 'A' to 'Z' lower-cased (they gain 0x20); other bytes stay.
[[gnu::always_inline]] inline __m128i lower16(__m128i v) noexcept {
  const __m128i up = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - 'A'))),
                                    _mm_set1_epi8(static_cast<char>(-128 + 26)));
  return _mm_add_epi8(v, _mm_and_si128(up, _mm_set1_epi8(0x20)));
}
#endif

// The word [p, p + n) lower-cased, in `out`, for the words emit_word does not lower itself
// (longer than 16 bytes, or ending a page). Out of line: they are rare. With SSE2, 16 bytes
// at a time (lower16).
[[gnu::noinline]] inline std::string_view lower_word(const char* p, std::size_t n, LoweredWord& out) {
#if defined(__SSE2__)
  if (n <= sizeof(out.small)) {
    for (std::size_t k = 0; k < n; k += 16) {
      __m128i v;
      if (can_read_ahead(p + k, 16)) {
        v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + k));  // bytes past the word: stored, never shown
      } else {
        char bytes[16] = {};
        std::memcpy(bytes, p + k, std::min<std::size_t>(16, n - k));
        v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out.small + k), lower16(v));
    }
    return {out.small, n};
  }
#endif
  out.large.resize(n);
  for (std::size_t j = 0; j < n; ++j) {
    const char c = p[j];
    out.large[j] = static_cast<char>(c + (static_cast<unsigned char>(c - 'A') < 26 ? 'a' - 'A' : 0));
  }
  return out.large;
}

// Emits the word [start, start + n), lower-cased first if it has upper-case letters.
template <class F>
[[gnu::always_inline]] inline void emit_word(const char* start, std::size_t n, bool upper, LoweredWord& lowered, F& f) {
  const char* word = start;
#if defined(__SSE2__)
  if (n <= 16 && can_read_ahead(start, 16)) [[likely]] {
    // Lowered whether or not it has capitals, and one of the two chosen after: without a
    // branch on `upper`, which real text leaves to chance (one word in seven), and with f
    // still called from one place.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lowered.small),
                     lower16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(start))));
    word = upper ? lowered.small : start;
  } else if (upper) {
    word = lower_word(start, n, lowered).data();
  }
#else
  if (upper) word = lower_word(start, n, lowered).data();
#endif
  f(std::string_view(word, n));
}

// emit_word for the rarer ends of words (a word that ran on from the block before, the
// text's last bytes): out of line, so that the mapper's f is inlined at one place only, the
// loop over a block's words (GCC inlines it at no more than that).
template <class F>
[[gnu::noinline]] void emit_word_apart(const char* start, std::size_t n, bool upper, LoweredWord& lowered, F& f) {
  emit_word(start, n, upper, lowered, f);
}

#if defined(__SSE2__)
// Bit i of `word` says whether byte i of the 64 at p belongs to a word; bit i of `upper`,
// whether it is an upper-case ASCII letter. Four 16-byte SSE2 steps (every x86-64 has SSE2):
// unsigned range checks done as signed compares after shifting the range to -128.
inline void classify64(const char* p, std::uint64_t& word, std::uint64_t& upper) noexcept {
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i lower_shift = _mm_set1_epi8(static_cast<char>(0x80 - 'a'));
  const __m128i upper_shift = _mm_set1_epi8(static_cast<char>(0x80 - 'A'));
  const __m128i digit_shift = _mm_set1_epi8(static_cast<char>(0x80 - '0'));
  const __m128i letters = _mm_set1_epi8(static_cast<char>(-128 + 26));
  const __m128i digits = _mm_set1_epi8(static_cast<char>(-128 + 10));
  word = 0;
  upper = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, case_bit), lower_shift), letters);
    const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(v, digit_shift), digits);
    const __m128i up = _mm_cmplt_epi8(_mm_add_epi8(v, upper_shift), letters);
    // The sign bit of v is set for bytes >= 0x80: word bytes too.
    const auto w = static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), v)));
    const auto u = static_cast<std::uint32_t>(_mm_movemask_epi8(up));
    word |= std::uint64_t(w) << (16 * k);
    upper |= std::uint64_t(u) << (16 * k);
  }
}
#endif

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
///
/// It classifies 64 bytes at a time into bit masks and walks the word boundaries with
/// bit scans, so its cost follows the number of words more than the number of bytes.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  const char* const data = text.data();
  const std::size_t n = text.size();
  detail::LoweredWord lowered;
  std::size_t i = 0;
  bool in_word = false;  // a word runs on from an earlier block
  std::size_t start = 0;
  bool upper = false;
#if defined(__SSE2__)
  for (; i + 64 <= n; i += 64) {
    std::uint64_t m, um;
    detail::classify64(data + i, m, um);
    if (in_word) {
      if (m == ~std::uint64_t(0)) {
        upper |= um != 0;
        continue;
      }
      const int e = __builtin_ctzll(~m);
      const std::uint64_t below = (std::uint64_t(1) << e) - 1;
      upper |= (um & below) != 0;
      detail::emit_word_apart(data + start, i + static_cast<std::size_t>(e) - start, upper, lowered, f);
      in_word = false;
      m &= ~below;
    }
    while (m != 0) {
      const int s = __builtin_ctzll(m);
      const std::uint64_t after = ~m & (~std::uint64_t(0) << s);  // separators from s on
      if (after == 0) {                                           // the word runs past this block
        in_word = true;
        start = i + static_cast<std::size_t>(s);
        upper = (um >> s) != 0;
        break;
      }
      const int e = __builtin_ctzll(after);
      const std::uint64_t bits = (~std::uint64_t(0) << s) & ((std::uint64_t(1) << e) - 1);
      detail::emit_word(data + i + s, static_cast<std::size_t>(e - s), (um & bits) != 0, lowered, f);
      m &= ~std::uint64_t(0) << e;
    }
  }
#endif
  // The tail (and everything, without SSE2): one byte at a time.
  const auto& cls = detail::word_byte_class;
  for (; i < n; ++i) {
    const std::uint8_t c = cls[static_cast<unsigned char>(data[i])];
    if (c != 0) {
      if (!in_word) {
        in_word = true;
        start = i;
        upper = false;
      }
      upper |= c == 2;
    } else if (in_word) {
      detail::emit_word_apart(data + start, i - start, upper, lowered, f);
      in_word = false;
    }
  }
  if (in_word) detail::emit_word_apart(data + start, n - start, upper, lowered, f);
}

}  // namespace mapreduce
