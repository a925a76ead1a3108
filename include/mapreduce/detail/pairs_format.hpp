#pragma once
// The reduced partitions: what a reducer writes for one partition, what a Dataset holds,
// and what the parent gathers. Writer and reader side by side.
//
//   [count u64] then count records of [key][value]
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

inline constexpr std::size_t pairs_count_bytes = sizeof(std::uint64_t);

// The bytes `pairs` (a range of (key view, value)) take in this layout.
template <class K, class Out, class Pairs>
[[nodiscard]] std::size_t pairs_bytes(const Pairs& pairs) {
  std::size_t bytes = pairs_count_bytes;
  for (const auto& [key, value] : pairs) bytes += KeyTraits<K>::size(key) + Codec<Out>::size(value);
  return bytes;
}

// Writes `pairs` at `out` (pairs_bytes() of room, and codec_slack more after it when K or
// Out is the user's: see codec_guard.hpp); returns the end of what was written.
template <class K, class Out, class Pairs>
char* write_pairs(char* out, const Pairs& pairs) {
  const std::uint64_t count = pairs.size();
  std::memcpy(out, &count, sizeof(count));
  out += pairs_count_bytes;
  for (const auto& [key, value] : pairs) out = write_key_value<K, Out>(out, key, value);
  return out;
}

// One reduced partition, read in place. Checks its count against its size, and each length
// against the end before it reads; a user's Codec is read under the guards of codec_guard.hpp.
// The bytes must be followed by codec_slack readable bytes when K or V is the user's: use
// PaddedBytes where that is not known.
template <class K, class V>
class PairsView {
 public:
  static constexpr bool trusted = trusted_key<K> && trusted_codec<V>;

  PairsView(const char* data, std::size_t size) : data_(data), end_(data + size) {
    if (size < pairs_count_bytes) throw JobError(fmt::format("corrupt reduced partition: {} bytes, too small", size));
    std::memcpy(&count_, data, sizeof(count_));
    // Every key takes at least a byte (a string's has its length): a count beyond the
    // bytes is a corrupt header, not a reason to loop for ever.
    if (count_ > size) {
      throw JobError(fmt::format("corrupt reduced partition: {} records in {} bytes", count_, size));
    }
  }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

  // f(key_view, V) for each record, in order.
  template <class F>
  void for_each(F&& f) const {
    static constexpr ReadSite what = read_site<K, V>("reduced partition");
    const char* r = data_ + pairs_count_bytes;
    for (std::uint64_t i = 0; i < count_; ++i) {
      const auto key = read_key<K>(r, end_, what);
      V value = read_value<V>(r, end_, what);
      f(key, std::move(value));
    }
    // Reads that stopped short of what was written leave bytes over (or parse garbage).
    if (r != end_) {
      throw_corrupt(what, fmt::format("{} bytes after its {} records", end_ - r, count_));
    }
  }

 private:
  const char* data_;
  const char* end_;
  std::uint64_t count_ = 0;
};

}  // namespace mapreduce::detail
