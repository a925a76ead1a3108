#pragma once
// What a map worker holds, between flushes, in a job without a combiner: every emitted pair,
// appended as it comes to its partition's buffer in the run format (run_format.hpp), so that
// a flush is one copy per partition. Nothing is sorted here: each reducer sorts its whole
// partition at once (key_grouper.hpp), which measured faster than sorting every run and
// merging them. Pure logic over memory: the caller provides the segment.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/key_ranges.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/hash.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/partition.hpp"

namespace mapreduce::detail {

template <class K, class V>
class RecordBuffer {
  using View = typename KeyTraits<K>::view;

 public:
  // `expected_bytes`: about what it will hold before a flush, so that its buffers need not
  // grow (and copy) on the way.
  explicit RecordBuffer(std::uint32_t partitions, std::size_t expected_bytes = 0)
      : runs_(partitions), counts_(partitions, 0), marked_(partitions, no_task) {
    if (expected_bytes != 0) {
      for (ByteBuffer& run : runs_)
        run.reserve(expected_bytes / partitions + expected_bytes / (std::size_t(4) * partitions));
    }
  }

  // The records that follow come from task `task`.
  void set_task(std::uint32_t task) noexcept { task_ = task; }
  // A sorted job's partitions are key ranges (key_ranges.hpp), not hash ranges.
  void use_key_ranges(const KeyRanges<K>* ranges) noexcept { ranges_ = ranges; }

  [[gnu::always_inline]] inline void add(std::uint64_t hash, View key, const V& value) {
    const std::size_t key_bytes = tagged_key_size<K>(key), value_bytes = Codec<V>::size(value);
    const std::size_t body = key_bytes + value_bytes;
    if (body > UINT32_MAX) throw Error("a key and value of over 4 GiB cannot be shuffled");
    const std::uint32_t part = ranges_ != nullptr ? ranges_->partition(key)
                                                  : partition_of(hash, static_cast<std::uint32_t>(runs_.size()));
    ByteBuffer& run = runs_[part];
    if (marked_[part] != task_) [[unlikely]] {
      // The partition's first record of this task since the last flush: mark the task.
      const std::uint64_t mark = tagged_record::mark_word(task_);
      tagged_record::write_head(run.extend(tagged_record::head_bytes(mark)), mark);
      bytes_ += tagged_record::head_bytes(mark);
      marked_[part] = task_;
    }
    // The buffer keeps codec_slack bytes after the record: a user's write() that overruns
    // its size() a little is caught by write_key_value before it reaches memory not ours.
    const std::uint64_t head = tagged_record::record_word(body);
    const std::size_t head_bytes = body < 64 ? 1 : tagged_record::head_bytes(head);
    char* const start = tagged_record::write_head(run.extend(head_bytes + body), head);
    if constexpr (varint_string_key<K>) {
      // A word: its length (one byte), then 16 bytes copied at once (two loads, no call),
      // which the slack after the record has room for.
      static_assert(codec_slack >= 17);
      if (key.size() - 1 < 16 && can_read_ahead(key.data(), 16)) {
        *start = static_cast<char>(key.size());
        copy_ahead<16>(start + 1, key.data());
        write_value<V>(start + key_bytes, value, value_bytes);
        ++counts_[part];
        bytes_ += head_bytes + body;
        return;
      }
    }
    write_tagged_key_value<K, V>(start, key, key_bytes, value, value_bytes);
    ++counts_[part];
    bytes_ += head_bytes + body;
  }

  [[nodiscard]] bool empty() const noexcept { return bytes_ == 0; }
  // The records of partition p held now, in the run format, and how many.
  [[nodiscard]] std::string_view run(std::size_t p) const noexcept { return {runs_[p].data(), runs_[p].size()}; }
  [[nodiscard]] std::uint64_t count(std::size_t p) const noexcept { return counts_[p]; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return bytes_; }
  // The bytes of the run set write_run_set() makes: with a user's Codec or KeyTraits,
  // codec_slack more after the last run, so that a reducer's read() that overruns a record
  // of it a little stays in the segment.
  [[nodiscard]] std::size_t run_set_bytes() const {
    return run_set_offsets(run_bytes()).back() + (trusted_key<K> && trusted_codec<V> ? 0 : codec_slack);
  }

  // Gives its buffers' memory back (it holds nothing: after write_run_set).
  void release() noexcept {
    for (ByteBuffer& run : runs_) run.release();
  }

  // The run set of every record held, as pieces to write one after another: its header
  // (kept in `header`), then each run, run_set_bytes() in all with the slack. Valid until
  // clear().
  [[nodiscard]] std::vector<std::string_view> run_set_pieces(std::vector<char>& header) const {
    const std::vector<std::uint64_t> offsets = run_set_offsets(run_bytes());
    header.resize(static_cast<std::size_t>(offsets[0]));
    write_run_set_header(header.data(), true, offsets, counts_);
    std::vector<std::string_view> pieces{std::string_view(header.data(), header.size())};
    for (const ByteBuffer& run : runs_) pieces.emplace_back(run.data(), run.size());
    return pieces;
  }

  // Starts empty again, keeping its buffers.
  void clear() noexcept {
    for (std::size_t p = 0; p < runs_.size(); ++p) {
      runs_[p].clear();
      counts_[p] = 0;
      marked_[p] = no_task;
    }
    bytes_ = 0;
  }

  // Writes every record held, as a run set, at `base` (run_set_bytes() of room); then starts
  // empty again, keeping its buffers.
  void write_run_set(char* base) {
    std::vector<char> header;
    for (const std::string_view piece : run_set_pieces(header)) {
      if (!piece.empty()) std::memcpy(base, piece.data(), piece.size());
      base += piece.size();
    }
    clear();
  }

 private:
  [[nodiscard]] std::vector<std::uint64_t> run_bytes() const {
    std::vector<std::uint64_t> bytes(runs_.size());
    for (std::size_t p = 0; p < runs_.size(); ++p) bytes[p] = runs_[p].size();
    return bytes;
  }

  std::vector<ByteBuffer> runs_;
  static constexpr std::uint64_t no_task = ~std::uint64_t(0);
  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> marked_;  // the task of each run's last mark, or no_task
  std::size_t bytes_ = 0;
  std::uint64_t task_ = 0;
  const KeyRanges<K>* ranges_ = nullptr;
};

}  // namespace mapreduce::detail
