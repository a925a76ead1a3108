#pragma once
// The map runs: the segment one map worker writes when it flushes (a "run set"), writer and
// reader side by side.
//
//   RunSetHeader | offsets[partitions + 1] | counts[partitions] | run 0 | run 1 | ...
//
// Run p holds the worker's records of partition p, contiguous:
//
//   untagged (a combining job):  [hash u64][key][value]
//   tagged (no combiner):        [head varint][key][value], head = body << 1, a string key
//                                as [length varint][bytes] (tagged_key_size),
//                                or a task mark [head varint], head = task << 1 | 1
//
// body is the bytes of key and value, so a reader can step over a record without decoding
// its value. In a tagged run, each record belongs to the task of the last mark before it,
// and every run starts with a mark: reducers hand each key's values over in task order.
// Tagged records carry no hash: every pair of a job without a combiner crosses shared
// memory, and a reducer rehashes a key it reads anyway for less than the page faults and
// copies of 8 more bytes a pair cost (a word's record is 13 bytes, not 31).
// Offsets are from the start of the segment. Reducers read run p of every run set in place.
// Runs are in no particular order: a reducer groups a partition's tagged records by key in
// two passes over them (key_grouper.hpp).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

inline constexpr std::uint64_t run_set_magic = 0x334e55525250414dULL;  // "MAPRRUN3"

struct RunSetHeader {
  std::uint64_t magic;
  std::uint32_t partitions;
  std::uint32_t tagged;  // runs mark the task of their records (jobs without a combiner)
};

// The fixed head of an untagged record, before its key.
namespace run_record {
inline constexpr std::size_t untagged_head = 8;  // [hash]

[[nodiscard]] inline std::uint64_t hash(const char* record) noexcept {
  std::uint64_t h;
  std::memcpy(&h, record, sizeof(h));
  return h;
}
// Writes the head of an untagged record; returns where its key goes.
inline char* write_head(char* out, std::uint64_t h) noexcept {
  std::memcpy(out, &h, sizeof(h));
  return out + untagged_head;
}
}  // namespace run_record

// The head of a tagged record, or a task mark: a little-endian base-128 varint, one byte
// for a record of under 64 bytes.
namespace tagged_record {
inline constexpr std::size_t max_head = 5;  // 35 bits: a body of up to 4 GiB, shifted
inline constexpr std::uint64_t max_task = UINT32_MAX;

[[nodiscard]] constexpr std::uint64_t record_word(std::uint64_t body) noexcept { return body << 1; }
[[nodiscard]] constexpr std::uint64_t mark_word(std::uint64_t task) noexcept { return task << 1 | 1; }
[[nodiscard]] constexpr std::size_t head_bytes(std::uint64_t word) noexcept {
  std::size_t n = 1;
  for (; word >= 0x80; word >>= 7) ++n;
  return n;
}
// Writes a head; returns where the record's key goes.
inline char* write_head(char* out, std::uint64_t word) noexcept {
  for (; word >= 0x80; word >>= 7) *out++ = static_cast<char>((word & 0x7f) | 0x80);
  *out++ = static_cast<char>(word);
  return out;
}
// Reads the head at p, which lies before end, into word; returns where its record's key
// starts, or nullptr when the head runs past end or past max_head bytes.
[[nodiscard]] inline const char* read_head(const char* p, const char* end, std::uint64_t& word) noexcept {
  const auto first = static_cast<unsigned char>(*p);
  if (first < 0x80) [[likely]] {
    word = first;
    return p + 1;
  }
  word = 0;
  for (unsigned shift = 0; shift < 7 * max_head; shift += 7) {
    if (p == end) return nullptr;
    const auto byte = static_cast<unsigned char>(*p++);
    word |= std::uint64_t(byte & 0x7f) << shift;
    if (byte < 0x80) return p;
  }
  return nullptr;
}
// The same, of a head read before (the reducer's second pass): no bounds.
[[nodiscard]] inline const char* skip_head(const char* p, std::uint64_t& word) noexcept {
  word = 0;
  for (unsigned shift = 0;; shift += 7) {
    const auto byte = static_cast<unsigned char>(*p++);
    word |= std::uint64_t(byte & 0x7f) << shift;
    if (byte < 0x80) return p;
  }
}
[[nodiscard]] constexpr bool is_mark(std::uint64_t word) noexcept { return (word & 1) != 0; }
}  // namespace tagged_record

// The key of a tagged record. A string key is its length as a varint and its bytes (a word
// takes one byte of length, not the Codec's four: 13 bytes for a 7-byte word and its
// uint32_t); any other key is as its KeyTraits writes it.
template <class K>
inline constexpr bool varint_string_key = std::is_same_v<K, std::string>;

template <class K>
[[nodiscard]] inline std::size_t tagged_key_size(const typename KeyTraits<K>::view& key) {
  if constexpr (varint_string_key<K>) {
    return tagged_record::head_bytes(key.size()) + key.size();
  } else {
    return KeyTraits<K>::size(key);
  }
}

// Writes a tagged record's key and value at `out` (their sizes as tagged_key_size and
// Codec::size gave; codec_slack bytes follow them); returns the end.
template <class K, class V>
inline char* write_tagged_key_value(char* out, const typename KeyTraits<K>::view& key, std::size_t key_bytes,
                                    const V& value, std::size_t value_bytes) {
  if constexpr (varint_string_key<K>) {
    char* const p = tagged_record::write_head(out, key.size());
    if (!key.empty()) std::memcpy(p, key.data(), key.size());  // an empty view may be null
    return write_value<V>(out + key_bytes, value, value_bytes);
  } else {
    return write_key_value<K, V>(out, key, key_bytes, value, value_bytes);
  }
}

// Reads a tagged record's key from [r, end), moving r past it.
template <class K>
[[gnu::always_inline]] inline typename KeyTraits<K>::view read_tagged_key(const char*& r, const char* end,
                                                                          const ReadSite& site) {
  if constexpr (varint_string_key<K>) {
    std::uint64_t n = 0;
    const char* const p = r != end ? tagged_record::read_head(r, end, n) : nullptr;
    if (p == nullptr || n > static_cast<std::uint64_t>(end - p)) [[unlikely]]
      throw_corrupt(site, "a key runs past its end");
    r = p + n;
    return {p, static_cast<std::size_t>(n)};
  } else {
    return read_key<K>(r, end, site);
  }
}

[[nodiscard]] inline std::size_t run_set_header_bytes(std::uint32_t partitions) noexcept {
  return sizeof(RunSetHeader) + (2 * std::size_t(partitions) + 1) * sizeof(std::uint64_t);
}

// Where each run of a run set starts, given the bytes of each: offsets[p] to offsets[p + 1].
[[nodiscard]] inline std::vector<std::uint64_t> run_set_offsets(const std::vector<std::uint64_t>& bytes) {
  const auto partitions = static_cast<std::uint32_t>(bytes.size());
  std::vector<std::uint64_t> offsets(bytes.size() + 1);
  offsets[0] = run_set_header_bytes(partitions);
  for (std::uint32_t p = 0; p < partitions; ++p) offsets[p + 1] = offsets[p] + bytes[p];
  return offsets;
}

// Writes the header, offsets and counts of a run set at `base` (a segment of at least
// offsets.back() bytes); the runs go at base + offsets[p].
inline void write_run_set_header(char* base, bool tagged, const std::vector<std::uint64_t>& offsets,
                                 const std::vector<std::uint64_t>& counts) noexcept {
  const RunSetHeader h{run_set_magic, static_cast<std::uint32_t>(counts.size()), tagged ? 1u : 0u};
  std::memcpy(base, &h, sizeof(h));
  std::memcpy(base + sizeof(h), offsets.data(), offsets.size() * sizeof(std::uint64_t));
  std::memcpy(base + sizeof(h) + offsets.size() * sizeof(std::uint64_t), counts.data(),
              counts.size() * sizeof(std::uint64_t));
}

// Marks in `has_records` (one flag per partition) the partitions that the run set whose
// first run_set_header_bytes(partitions) bytes are `header` holds records of. Throws
// JobError when the header is not a run set's of that many partitions.
inline void mark_partitions_with_records(std::string_view header, std::uint32_t partitions,
                                         std::vector<char>& has_records) {
  RunSetHeader h{};
  if (header.size() < run_set_header_bytes(partitions)) throw JobError("corrupt run set: its header is cut short");
  std::memcpy(&h, header.data(), sizeof(h));
  if (h.magic != run_set_magic || h.partitions != partitions) {
    throw JobError(fmt::format("corrupt run set: {} partitions where {} were cut", h.partitions, partitions));
  }
  has_records.resize(partitions, 0);
  const char* counts = header.data() + sizeof(RunSetHeader) + (std::size_t(partitions) + 1) * sizeof(std::uint64_t);
  for (std::uint32_t p = 0; p < partitions; ++p) {
    std::uint64_t n;
    std::memcpy(&n, counts + std::size_t(p) * sizeof(n), sizeof(n));
    if (n != 0) has_records[p] = 1;
  }
}

// Read access to one run set in a mapped segment. The constructor checks the header and
// every offset against the segment's size, so a run it returns lies inside the segment.
class RunSetView {
 public:
  RunSetView(const char* data, std::size_t size) : data_(data), size_(size) {
    if (size < sizeof(RunSetHeader)) throw JobError(fmt::format("corrupt run set: {} bytes, too small", size));
    std::memcpy(&header_, data, sizeof(header_));
    if (header_.magic != run_set_magic || header_.partitions > (std::uint32_t(1) << 24) ||
        size < run_set_header_bytes(header_.partitions)) {
      throw JobError("corrupt run set: bad header");
    }
    std::uint64_t previous = run_set_header_bytes(header_.partitions);
    for (std::uint32_t p = 0; p <= header_.partitions; ++p) {
      const std::uint64_t at = offset(p);
      if (at < previous || at > size)
        throw JobError(fmt::format("corrupt run set: run {} lies outside the segment", p));
      previous = at;
    }
  }
  [[nodiscard]] std::uint32_t partitions() const noexcept { return header_.partitions; }
  [[nodiscard]] bool tagged() const noexcept { return header_.tagged != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint64_t offset(std::size_t i) const noexcept { return word(i); }
  [[nodiscard]] std::uint64_t count(std::uint32_t p) const noexcept { return word(header_.partitions + 1 + p); }
  [[nodiscard]] std::string_view run(std::uint32_t p) const noexcept {
    return {data_ + offset(p), static_cast<std::size_t>(offset(p + 1) - offset(p))};
  }

 private:
  [[nodiscard]] std::uint64_t word(std::size_t i) const noexcept {
    std::uint64_t v;
    std::memcpy(&v, data_ + sizeof(RunSetHeader) + i * sizeof(v), sizeof(v));
    return v;
  }
  const char* data_;
  std::size_t size_;
  RunSetHeader header_{};
};

}  // namespace mapreduce::detail
