#pragma once
// The One Billion Row Challenge's formats, shared by station_temperatures and its threaded
// baseline (bench/station_temperatures_threads.cpp), so both parse and print alike:
//
//   input, one reading a line:  name;value\n    value in [-99.9, 99.9] with one decimal
//                               (d.d, dd.d, -d.d or -dd.d); the last line may lack its \n
//   output, one line:           {name1=min/mean/max, name2=min/mean/max, ...}\n
//                               names in bytewise (UTF-8 byte) order, numbers with one decimal
//
// Temperatures are whole tenths of a degree everywhere, so sums are exact and the mean is
// rounded once, half up (toward +infinity), as Java's Math.round rounds the challenge's.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace stations {

/// The readings of one station: lowest, highest, their sum and their count, in tenths.
/// Trivially copyable, so it travels through the library as its bytes (no Codec needed).
struct Stat {
  std::int64_t sum = 0;
  std::uint64_t count = 0;
  std::int32_t min = std::numeric_limits<std::int32_t>::max();
  std::int32_t max = std::numeric_limits<std::int32_t>::min();

  [[nodiscard]] static Stat of(int tenths) noexcept { return {tenths, 1, tenths, tenths}; }
  void add(int tenths) noexcept {
    sum += tenths;
    ++count;
    min = std::min(min, tenths);
    max = std::max(max, tenths);
  }
  friend bool operator==(const Stat&, const Stat&) = default;
};

/// The readings of two sets of readings together: associative and commutative, with the
/// empty Stat{} as its identity, so it is a combine operation.
[[nodiscard]] inline Stat merge(const Stat& a, const Stat& b) noexcept {
  return {a.sum + b.sum, a.count + b.count, std::min(a.min, b.min), std::max(a.max, b.max)};
}

/// The mean in tenths, rounded half up: floor((2 sum + count) / (2 count)), exact, a floor
/// division also for negative sums (C++ division truncates toward 0). `count` > 0. Exact
/// while 2 |sum| + count fits in 63 bits: over 4e15 readings of one station.
[[nodiscard]] inline std::int64_t mean_tenths(std::int64_t sum, std::uint64_t count) noexcept {
  const std::int64_t numerator = 2 * sum + static_cast<std::int64_t>(count);
  const std::int64_t denominator = 2 * static_cast<std::int64_t>(count);
  std::int64_t q = numerator / denominator;
  if (numerator % denominator != 0 && numerator < 0) --q;
  return q;
}

/// Appends `tenths` with one decimal: "-1.2", "0.0" (never "-0.0"), "12.3".
inline void append_tenths(std::string& out, std::int64_t tenths) {
  const std::uint64_t magnitude = tenths < 0 ? 0 - static_cast<std::uint64_t>(tenths)
                                             : static_cast<std::uint64_t>(tenths);
  fmt::format_to(std::back_inserter(out), "{}{}.{}", tenths < 0 ? "-" : "", magnitude / 10, magnitude % 10);
}

/// The challenge's output line, "{a=min/mean/max, b=...}\n", stations sorted by name here
/// (bytewise: std::string_view compares as unsigned bytes). Stations with no readings are
/// left out.
[[nodiscard]] inline std::string result_line(std::vector<std::pair<std::string_view, Stat>> stations) {
  std::sort(stations.begin(), stations.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  bool first = true;
  for (const auto& [name, s] : stations) {
    if (s.count == 0) continue;
    if (!std::exchange(first, false)) out += ", ";
    out += name;
    out += '=';
    append_tenths(out, s.min);
    out += '/';
    append_tenths(out, mean_tenths(s.sum, s.count));
    out += '/';
    append_tenths(out, s.max);
  }
  out += "}\n";
  return out;
}

namespace detail {
constexpr std::uint64_t ones = 0x0101010101010101ULL;
constexpr std::uint64_t highs = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// The 8 bytes at p, or the n < 8 left before the end followed by zeros: every load stays
// inside the text (the last chunk of a file may end at the end of its last page).
inline std::uint64_t load8_padded(const char* p, const char* end) noexcept {
  if (end - p >= 8) return load8(p);
  std::uint64_t v = 0;
  std::memcpy(&v, p, static_cast<std::size_t>(end - p));
  return v;
}

// Bit 7 of each byte of w that equals the byte of `pattern` (a byte repeated), set exactly
// for the first such byte (higher ones may be set by a borrow, so only the lowest counts).
inline std::uint64_t matches(std::uint64_t w, std::uint64_t pattern) noexcept {
  const std::uint64_t x = w ^ pattern;
  return (x - ones) & ~x & highs;
}

// The first ';' or '\n' in [p, end), or end: 8 bytes a step, then byte by byte near the
// end, so that no load passes it. For the lines the block loop below leaves.
inline const char* find_separator(const char* p, const char* end) noexcept {
  for (; end - p >= 8; p += 8) {
    const std::uint64_t w = load8(p);
    const std::uint64_t hit = matches(w, ones * ';') | matches(w, ones * '\n');
    if (hit != 0) return p + (__builtin_ctzll(hit) >> 3);
  }
  while (p < end && *p != ';' && *p != '\n') ++p;
  return p;
}

inline const char* find_line_end(const char* p, const char* end) noexcept {
  const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
  return nl != nullptr ? static_cast<const char*>(nl) : end;
}

// Whether [s, line_end) is a temperature, d.d, dd.d, -d.d or -dd.d; if so, its value.
// Branch-free (every choice a mask or a shift by a computed amount): temperatures of one
// and of two digits are about equally likely, and a branch on the form would be
// mispredicted on a good share of the lines. `end` is the end of the text: no load passes it.
//
// The number's bytes are shifted to the top of a word, which puts its last digit in byte
// 7, the '.' in byte 6, the units in byte 5 and the tens (or the sign, or nothing) in byte
// 4. One multiplication then adds tens * 100 + units * 10 + tenths in bits 32-41 (the trick
// of Quan Anh Mai's 1BRC entry: the stray product units * 100 lands at bit 40, and its two
// low bits are 0).
inline bool parse_tenths(const char* s, const char* line_end, const char* end, int& tenths) noexcept {
  const std::uint64_t w = load8_padded(s, end);  // byte 0 is s[0] (little-endian)
  const auto length = static_cast<std::uint64_t>(line_end - s);
  const std::uint64_t negative = (w & 0xff) == '-' ? 1 : 0;
  const std::uint64_t digits = length - negative - 2;                  // before the '.': 1 or 2 in a temperature
  const std::uint64_t number = (w << ((64 - 8 * length) & 63)) >> 24;  // bytes 1-4: tens, units, '.', tenths
  const std::uint64_t two = digits == 2 ? ~std::uint64_t(0) : 0;
  const std::uint64_t digit_bytes = 0xff00ff0000ULL | (two & 0xff00);
  const std::uint64_t zeros = 0x3030303030ULL & digit_bytes;  // '0' in each digit byte
  const std::uint64_t picked = number & digit_bytes;
  // Each digit byte is 0x30-0x39: its high half is 3, also after adding 6.
  const bool well_formed = (length - 3 <= 2) & (digits - 1 <= 1) & ((picked & 0xf0f0f0f0f0ULL) == zeros) &
                           (((picked + (0x0606060606ULL & digit_bytes)) & 0xf0f0f0f0f0ULL) == zeros) &
                           (((number >> 24) & 0xff) == '.');
  const auto magnitude = static_cast<int>((((picked - zeros) * 0x640a0001ULL) >> 32) & 0x3ff);
  tenths = negative != 0 ? -magnitude : magnitude;
  return well_formed;
}

// One line, [line, line_end), whose first ';' is at `semicolon` (null: none): f(name,
// tenths), or one more malformed line. An empty line is neither.
template <class F>
[[gnu::always_inline]] inline void reading(const char* line, const char* semicolon, const char* line_end,
                                           const char* end, F& f, std::uint64_t& malformed) {
  int tenths = 0;
  if (semicolon != nullptr && semicolon != line && parse_tenths(semicolon + 1, line_end, end, tenths)) [[likely]] {
    f(std::string_view(line, static_cast<std::size_t>(semicolon - line)), tenths);
  } else {
    malformed += line_end != line ? 1 : 0;
  }
}

#if defined(__SSE2__)
// Bit i of `newlines` says whether byte i of the 64 at p is '\n'; of `semicolons`, ';'.
// Four 16-byte SSE2 steps (every x86-64 has SSE2).
inline void find_separators64(const char* p, std::uint64_t& newlines, std::uint64_t& semicolons) noexcept {
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i semicolon = _mm_set1_epi8(';');
  newlines = 0;
  semicolons = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    newlines |= std::uint64_t(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)))) << (16 * k);
    semicolons |= std::uint64_t(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, semicolon))))
                  << (16 * k);
  }
}
#endif
}  // namespace detail

/// Calls f(std::string_view name, int tenths) for each well-formed line of `text` (whole
/// lines; the last may lack its '\n') and returns the number of malformed lines: no ';', an
/// empty name, or a temperature not in one of the four forms. Empty lines are skipped, not
/// counted. The name is every byte before the first ';', so a name never holds one.
///
/// With SSE2 the text is read 64 bytes at a time into bit masks of its '\n' and ';' bytes,
/// and lines are walked with bit scans (the shape of simdjson's first stage). Finding where a
/// line ends then does not wait for the line before it to be parsed, as it does when each
/// search starts where the last line ended: the parsing of consecutive lines overlaps.
template <class F>
std::uint64_t for_each_reading(std::string_view text, F&& f) {
  const char* line = text.data();  // where the current line starts
  const char* const end = line + text.size();
  std::uint64_t malformed = 0;
#if defined(__SSE2__)
  const char* semicolon = nullptr;  // the current line's first ';', once seen
  for (const char* block = text.data(); end - block >= 64; block += 64) {
    std::uint64_t newlines, semicolons;
    detail::find_separators64(block, newlines, semicolons);
    while (newlines != 0) {
      const int at = __builtin_ctzll(newlines);
      const std::uint64_t through = (std::uint64_t(2) << at) - 1;  // bits 0..at (at 63: all; 2 << 63 is 0)
      if (semicolon == nullptr) {
        const std::uint64_t before = semicolons & (through >> 1);  // ';' bits of this line before its '\n'
        semicolon = before != 0 ? block + __builtin_ctzll(before) : nullptr;
      }
      detail::reading(line, semicolon, block + at, end, f, malformed);
      line = block + at + 1;
      semicolon = nullptr;
      semicolons &= ~through;
      newlines &= newlines - 1;
    }
    // The current line runs on past this block; its first ';' may be in it.
    if (semicolon == nullptr && semicolons != 0) semicolon = block + __builtin_ctzll(semicolons);
  }
#endif
  // What is left (all of it without SSE2): a line at a time.
  while (line < end) {
    const char* sep = detail::find_separator(line, end);
    const bool has_semicolon = sep != end && *sep == ';';
    const char* line_end = has_semicolon ? detail::find_line_end(sep + 1, end) : sep;
    detail::reading(line, has_semicolon ? sep : nullptr, line_end, end, f, malformed);
    if (line_end == end) break;
    line = line_end + 1;
  }
  return malformed;
}

}  // namespace stations
