#pragma once
#include <cstdint>
#include <cstring>
#include <utility>

namespace mapreduce::detail {

// The records that a piece [begin, end) of a file owns: those that *start* inside it.
// Returns the byte range [first, last) they cover, whole (each with its delimiter, except
// a final record without one); first >= last when no record starts inside.
//
// A record starts at 0 or just after a delimiter. The piece skips the tail of a record
// begun before it, and finishes the record that runs past its end, so that the pieces of
// a file, whatever their sizes, hand out every record exactly once and never cut one.
[[nodiscard]] inline std::pair<std::uint64_t, std::uint64_t> owned_records(const char* data, std::uint64_t size,
                                                                           std::uint64_t begin, std::uint64_t end,
                                                                           char delimiter) noexcept {
  auto after_next_delimiter = [&](std::uint64_t from) -> std::uint64_t {
    const void* p = std::memchr(data + from, delimiter, size - from);
    return p == nullptr ? size : static_cast<std::uint64_t>(static_cast<const char*>(p) - data) + 1;
  };
  std::uint64_t first = begin;
  if (first > 0 && data[first - 1] != delimiter) {
    // Look for a record start only inside the piece: a piece in the middle of one long
    // record owns nothing, and must not scan to the record's end to find that out (with a
    // 1 GiB line, every piece would).
    const void* p = std::memchr(data + first, delimiter, end - first);
    if (p == nullptr) return {end, end};
    first = static_cast<std::uint64_t>(static_cast<const char*>(p) - data) + 1;
  }
  std::uint64_t last = end;
  if (last < size && last > 0 && data[last - 1] != delimiter) last = after_next_delimiter(last);
  return {first, last};
}

}  // namespace mapreduce::detail
