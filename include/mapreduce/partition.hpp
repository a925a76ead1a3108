#pragma once
#include <cstdint>

namespace mapreduce {

/// The partition of a key with hash `hash`, out of `partitions`.
///
/// It scales the high 32 bits of the hash into [0, partitions) (a multiply, no division),
/// so it is monotonic in the hash: partition p holds a contiguous range of hashes. Reducers
/// emit each partition sorted by (hash, key), and concatenating the partitions in order
/// therefore gives the same sequence whatever the number of partitions or workers.
/// The low bits of the hash stay free for the hash tables' slot index.
[[nodiscard]] constexpr std::uint32_t partition_of(std::uint64_t hash, std::uint32_t partitions) noexcept {
  return static_cast<std::uint32_t>(((hash >> 32) * partitions) >> 32);
}

}  // namespace mapreduce
