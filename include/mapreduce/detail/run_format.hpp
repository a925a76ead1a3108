#pragma once
// The layout of a run set: the segment one map worker writes when it flushes.
//
//   RunSetHeader | offsets[partitions + 1] | counts[partitions] | run 0 | run 1 | ...
//
// Run p holds the worker's records of partition p, contiguous: [hash u64][task u32, only
// when tagged][key][value]. Offsets are from the start of the segment. Reducers read
// run p of every run set in place.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

inline constexpr std::uint64_t run_set_magic = 0x314e55525250414dULL;  // "MAPRRUN1"

struct RunSetHeader {
  std::uint64_t magic;
  std::uint32_t partitions;
  std::uint32_t tagged;  // records carry their task index (jobs without a combiner)
};

[[nodiscard]] inline std::size_t run_set_header_bytes(std::uint32_t partitions) noexcept {
  return sizeof(RunSetHeader) + (2 * std::size_t(partitions) + 1) * sizeof(std::uint64_t);
}

// Read access to one run set in a mapped segment.
class RunSetView {
 public:
  RunSetView(const char* data, std::size_t size) : data_(data) {
    if (size < sizeof(RunSetHeader)) throw Error("corrupt run set: too small");
    std::memcpy(&header_, data, sizeof(header_));
    if (header_.magic != run_set_magic || size < run_set_header_bytes(header_.partitions)) {
      throw Error("corrupt run set: bad header");
    }
  }
  [[nodiscard]] std::uint32_t partitions() const noexcept { return header_.partitions; }
  [[nodiscard]] bool tagged() const noexcept { return header_.tagged != 0; }
  [[nodiscard]] std::uint64_t offset(std::size_t i) const noexcept { return word(i); }
  [[nodiscard]] std::uint64_t count(std::uint32_t p) const noexcept { return word(header_.partitions + 1 + p); }
  [[nodiscard]] std::string_view run(std::uint32_t p) const noexcept {
    return {data_ + offset(p), static_cast<std::size_t>(offset(p + 1) - offset(p))};
  }

 private:
  [[nodiscard]] std::uint64_t word(std::size_t i) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, data_ + sizeof(RunSetHeader) + i * 8, 8);
    return v;
  }
  const char* data_;
  RunSetHeader header_{};
};

}  // namespace mapreduce::detail
