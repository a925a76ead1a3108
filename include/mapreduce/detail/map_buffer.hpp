#pragma once
// What a map worker holds between flushes: a combining hash table when the reducer is a
// combine operation, or a RecordBuffer (per-partition runs of records) when every pair must
// reach the reducer.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/key_ranges.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/record_buffer.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/detail/table.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/partition.hpp"

namespace mapreduce::detail {

template <class K, class V>
class MapBuffer {
 public:
  using View = typename KeyTraits<K>::view;
  // Folds b into a; ctx is the user's combine operation. Null: no combiner.
  using CombineFn = V (*)(const void* ctx, const V& a, const V& b);

  // `sum`: the combine operation is +, applied inline rather than through `combine`.
  // `record_bytes`: without a combiner, about what the buffer holds before a flush.
  MapBuffer(std::uint32_t partitions, CombineFn combine, const void* ctx, bool sum = false,
            std::size_t record_bytes = 0)
      : partitions_(partitions), combine_(combine), ctx_(ctx), sum_(sum),
        records_buffer_(combine == nullptr ? partitions : 0, combine == nullptr ? record_bytes : 0) {}

  // Keys in [0, n) go to an array instead of the table (Phoenix++'s array container):
  // no hashing and no probing per emit; the keys are hashed once each, when written out.
  void use_dense_keys(std::size_t n) {
    if constexpr (std::is_integral_v<K>) {
      dense_.assign(n, V{});
      present_.assign(n, 0);
    } else {
      (void)n;
      throw Error("DenseKeys needs an integer key type");
    }
  }

  // Inlined into the mapper's loop: per emit, a call's overhead is a good part of the work.
  [[gnu::always_inline]] inline void add(View key, const V& value) {
    if constexpr (std::is_integral_v<K>) {
      if (!dense_.empty()) {
        const auto i = static_cast<std::size_t>(key);
        bool negative = false;
        if constexpr (std::is_signed_v<K>) negative = key < 0;
        if (negative || i >= dense_.size())
          throw Error(fmt::format("key {} is outside DenseKeys [0, {})", key, dense_.size()));
        ++records_;
        if constexpr (std::is_arithmetic_v<V>) {
          if (sum_) {  // 0 is the identity of +: no branch on whether the key was seen
            dense_[i] = static_cast<V>(dense_[i] + value);
            present_[i] = 1;
            dense_used_ = 1;
            return;
          }
        }
        if (present_[i] != 0) {
          dense_[i] = combine_(ctx_, dense_[i], value);
        } else {
          dense_[i] = value;
          present_[i] = 1;
          dense_used_ = 1;
        }
        return;
      }
    }
    ++records_;
    if (combine_ != nullptr) {
      // Hash now, insert a few emits later (retire_half): the slot's cache line is on its
      // way meanwhile, so the misses of a batch of lookups overlap instead of queueing one
      // by one, and this part, inlined into the mapper's loop, stays a few instructions.
      if constexpr (Table::inline_keys) {
        // A key that fits a slot (most words) waits as its two words: no bytes to copy, and
        // the insert compares three words.
        if (key.size() <= Table::Slot::max_inline) {
          std::uint64_t w0, w1;
          Table::Slot::inline_words(key.data(), key.size(), w0, w1);
          const std::uint64_t h = key.size() <= 8 ? hash_short(w0, key.size()) : KeyTraits<K>::hash(key);
          table_.prefetch(h);
          pending_[pending_next_].set_inline(h, w0, w1, value);
          pending_added();
          return;
        }
      }
      if constexpr (std::is_same_v<View, std::string_view>) {
        add_string_key(key, value);  // out of line: the inlined emit stays small
      } else {
        const std::uint64_t h = KeyTraits<K>::hash(key);
        table_.prefetch(h);
        pending_[pending_next_].set(h, 0, key, value);
        pending_added();
      }
      return;
    }
    add_record(key, value);
  }

  // Folds the emits still waiting in the prefetch ring (or the dense array) into the table.
  void drain() {
    if constexpr (std::is_integral_v<K>) {
      if (dense_used_ != 0) {
        for (std::size_t i = 0; i < dense_.size(); ++i) {
          if (present_[i] == 0) continue;
          const auto key = static_cast<K>(i);
          combine_into_table(KeyTraits<K>::hash(key), 0, key, dense_[i]);
          present_[i] = 0;
          dense_[i] = V{};
        }
        dense_used_ = 0;
      }
    }
    // Oldest first: the other half, if it still holds emits, then the one being filled.
    const auto current = static_cast<std::uint32_t>(pending_next_ / pending_depth);
    if ((halves_held_ & (1U << (current ^ 1))) != 0)
      retire_half(&pending_[(current ^ 1) * pending_depth], pending_depth);
    retire_half(&pending_[current * pending_depth], pending_next_ % pending_depth);
    pending_next_ = 0;
    halves_held_ = 0;
  }

  // The combined pairs held now (after drain()): for in-process baselines and tests.
  [[nodiscard]] const CombineTable<K, V, true>& combined() const noexcept { return table_; }

  // A sorted job: partitions are ranges of keys (key_ranges.hpp); `ranges` outlives this.
  void use_key_ranges(const KeyRanges<K>* ranges) noexcept {
    ranges_ = ranges;
    records_buffer_.use_key_ranges(ranges);
  }
  // What a buffer without a combiner holds (a sorted job's sample reads it).
  [[nodiscard]] const RecordBuffer<K, V>& records() const noexcept { return records_buffer_; }

  // Tags the records that follow (jobs without a combiner) so reducers can put each
  // key's values in task order: the same order whichever worker ran which task.
  void set_task(std::size_t task) {
    if (combine_ == nullptr) records_buffer_.set_task(static_cast<std::uint32_t>(task));
  }

  [[nodiscard]] bool empty() const noexcept {
    return combine_ != nullptr ? table_.empty() && pending_next_ == 0 && halves_held_ == 0 && dense_used_ == 0
                               : records_buffer_.empty();
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return combine_ != nullptr ? table_.memory_bytes() : records_buffer_.memory_bytes();
  }
  std::uint64_t take_records() noexcept {
    const auto n = records_;
    records_ = 0;
    return n;
  }

  // Gives back the memory it keeps for more emits, once flushed for the last time: a map
  // worker goes on to reduce (WorkerHandoff) with no more than it was forked with.
  void release() {
    drain();
    records_buffer_.release();
    table_.clear();
    std::vector<V>().swap(dense_);
    std::vector<std::uint8_t>().swap(present_);
  }

  // Writes everything held into one new segment of runs, hands it to the parent, and
  // starts empty again.
  void flush(WorkerLink& link) {
    drain();
    if (empty()) return;
    if (combine_ == nullptr) {
      // Written, not mapped and copied into: see WorkerLink::write_segment.
      std::vector<char> header;
      const SharedSegment segment = link.write_segment(records_buffer_.run_set_bytes(),
                                                       records_buffer_.run_set_pieces(header));
      records_buffer_.clear();
      link.publish(segment, 0);
      return;
    }
    std::vector<std::uint64_t> bytes(partitions_, 0), counts(partitions_, 0);
    // A sorted job's partition of each slot, found once (a search of the key ranges) and
    // kept for the second pass, which visits the slots in the same order.
    std::vector<std::uint32_t> slot_partition;
    if (ranges_ != nullptr) slot_partition.reserve(table_.size());
    table_.for_each([&](const auto& s) {
      std::uint32_t p;
      if (ranges_ == nullptr) {
        p = partition_of(s.hash, partitions_);
      } else {
        if constexpr (std::is_same_v<K, std::string> && std::endian::native == std::endian::little) {
          p = ranges_->partition(s.key(),
                                 __builtin_bswap64(s.prefix()));  // the slot's prefix: its first 8 bytes, loaded
        } else {
          p = ranges_->partition(s.key());
        }
        slot_partition.push_back(p);
      }
      bytes[p] += run_record::untagged_head + KeyTraits<K>::size(s.key()) + Codec<V>::size(s.value);
      ++counts[p];
    });
    const std::vector<std::uint64_t> offsets = run_set_offsets(bytes);
    // A user's Codec gets codec_slack bytes after the last run: a write() past its size()
    // lands in the next record's room or there, inside the segment, and is caught.
    constexpr bool trusted = trusted_key<K> && trusted_codec<V>;
    SharedSegment segment = link.create_segment(offsets.back() + (trusted ? 0 : codec_slack));
    char* base = segment.data();
    write_run_set_header(base, false, offsets, counts);
    std::vector<char*> cursor(partitions_);
    for (std::uint32_t p = 0; p < partitions_; ++p) cursor[p] = base + offsets[p];
    std::size_t slot = 0;
    table_.for_each([&](const auto& s) {
      char*& c = cursor[ranges_ != nullptr ? slot_partition[slot++] : partition_of(s.hash, partitions_)];
      c = write_key_value<K, V>(run_record::write_head(c, s.hash), s.key(), s.value);
    });
    if constexpr (!trusted) {
      // Each record's size() was asked twice: a Codec whose size() changed between the two
      // calls would leave a run that does not end where its offsets say.
      for (std::uint32_t p = 0; p < partitions_; ++p) {
        if (cursor[p] != base + offsets[p + 1]) throw_unstable_size<K, V>();
      }
    }
    table_.clear();
    link.publish(segment, 0);
  }

 private:
  // The prefetch ring: two halves of 16 emits. When one half is full, the other (its emits
  // hashed and prefetched 16 to 31 emits ago) goes into the table in one out-of-line loop,
  // so the emit itself stays small enough to inline into the mapper's loop. Retiring one
  // emit per emit instead (the ring before) made every emit carry the whole probe, and the
  // mapper's lambda a call with a 264-byte frame: word count took 200 instructions a word,
  // and 179 with the halves (callgrind, one MapBuffer, 32 MB of a 346 k-word corpus).
  static constexpr std::size_t pending_depth = 16;
  static constexpr std::size_t max_pending_key = 32;
  using Table = CombineTable<K, V, true>;
  // One emit waiting in the prefetch ring; a string key is copied (the mapper's buffer may
  // change before the insert), or kept as its slot's two words (set_inline).
  struct Pending {
    std::uint64_t hash = 0;
    std::uint64_t prefix = 0;
    std::uint64_t w1 = 0;  // set_inline: the slot's second word; 0: the key is in `bytes`
    V value{};
    void set_inline(std::uint64_t h, std::uint64_t w0, std::uint64_t second, const V& v) {
      hash = h;
      prefix = w0;
      w1 = second;
      value = v;
    }
    std::conditional_t<std::is_same_v<View, std::string_view>, std::uint32_t, View> k{};
    char bytes[std::is_same_v<View, std::string_view> ? max_pending_key : 1] = {};
    void set(std::uint64_t h, std::uint64_t p, View key, const V& v) {
      hash = h;
      prefix = p;
      w1 = 0;
      value = v;
      if constexpr (std::is_same_v<View, std::string_view>) {
        k = static_cast<std::uint32_t>(key.size());
        if (!key.empty() && can_read_ahead(key.data(), max_pending_key)) {
          copy_ahead<max_pending_key>(bytes, key.data());  // a fixed size: a few moves, no call
        } else if (!key.empty()) {                         // an empty view may be null: no memcpy from it
          std::memcpy(bytes, key.data(), key.size());
        }
      } else {
        k = key;
      }
    }
    [[nodiscard]] View key() const noexcept {
      if constexpr (std::is_same_v<View, std::string_view>) {
        return {bytes, k};
      } else {
        return k;
      }
    }
  };

  // After an emit was put at pending_next_: when that filled a half, empties the other one
  // into the table before it is written again.
  [[gnu::always_inline]] inline void pending_added() {
    if ((++pending_next_ & (pending_depth - 1)) == 0) [[unlikely]]
      half_filled();
  }
  [[gnu::noinline]] void half_filled() {
    const auto filled = static_cast<std::uint32_t>(pending_next_ / pending_depth - 1);
    pending_next_ &= 2 * pending_depth - 1;
    halves_held_ |= 1U << filled;
    const std::uint32_t other = filled ^ 1;
    if ((halves_held_ & (1U << other)) != 0) {
      retire_half(&pending_[other * pending_depth], pending_depth);
      halves_held_ &= ~(1U << other);
    }
  }

  // Folds n waiting emits into the table, in the order they were emitted.
  void retire_half(const Pending* p, std::size_t n) {
    if (sum_) {
      if constexpr (requires(V a, V b) { a + b; }) {
        retire(p, n, [](const V& a, const V& b) -> V { return static_cast<V>(a + b); });
        return;
      }
    }
    retire(p, n, [this](const V& a, const V& b) { return combine_(ctx_, a, b); });
  }
  template <class Combine>
  void retire(const Pending* p, std::size_t n, const Combine& combine) {
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (Table::inline_keys) {
        if (p[i].w1 != 0) {
          table_.add_inline(p[i].hash, p[i].prefix, p[i].w1, p[i].value, combine);
          continue;
        }
      }
      table_.add(p[i].hash, p[i].prefix, p[i].key(), p[i].value, combine);
    }
  }

  // Without a combiner: the pair goes to its partition's run. Out of line, so that add()
  // stays small enough for the compiler to inline the mapper's emitting lambda into its
  // loop (the tokenizer's, for words): GCC would not with both paths in it, and the call
  // to the lambda per word, with its saved registers, cost word count 10% of its
  // instructions and up to a sixth of its time (wordcount_threads, 1 GiB of text, 2
  // threads: 1.81 s against 2.22 s on 346 k distinct words, 1.56 s against 1.70 s on 33 k).
  // The group-by, which takes this path, measured no slower for the call (1.00 s against
  // 1.06 s, count on 256 MiB).
  [[gnu::noinline]] void add_record(View key, const V& value) {
    records_buffer_.add(KeyTraits<K>::hash(key), key, value);
  }

  // A string key that does not fit a slot (or any string key, for a table without inline
  // keys): into the ring as a copy of up to max_pending_key bytes, or, longer, straight into
  // the table.
  [[gnu::noinline]] void add_string_key(View key, const V& value) {
    const std::uint64_t prefix = load_prefix(key.data(), key.size());  // once, for the hash and the table
    const std::uint64_t h = key.size() <= 8 ? hash_short(prefix, key.size()) : KeyTraits<K>::hash(key);
    if (key.size() > max_pending_key) {
      combine_into_table(h, prefix, key, value);
      return;
    }
    table_.prefetch(h);
    pending_[pending_next_].set(h, prefix, key, value);
    pending_added();
  }

  [[gnu::always_inline]] inline void combine_into_table(std::uint64_t h, std::uint64_t prefix, View key,
                                                        const V& value) {
    if (sum_) {
      if constexpr (requires(V a, V b) { a + b; }) {
        table_.add(h, prefix, key, value, [](const V& a, const V& b) -> V { return static_cast<V>(a + b); });
        return;
      }
    }
    table_.add(h, prefix, key, value, [this](const V& a, const V& b) { return combine_(ctx_, a, b); });
  }

  std::uint32_t partitions_;
  CombineFn combine_;
  const void* ctx_;
  bool sum_;
  Pending pending_[2 * pending_depth];
  std::uint32_t pending_next_ = 0;  // the entry the next emit fills
  std::uint32_t halves_held_ = 0;   // bit h: half h holds emits not yet in the table
  std::vector<V> dense_;
  std::vector<std::uint8_t> present_;
  std::size_t dense_used_ = 0;  // nonzero once a dense key was added since the last drain
  Table table_;
  RecordBuffer<K, V> records_buffer_;  // jobs without a combiner
  const KeyRanges<K>* ranges_ = nullptr;
  std::uint64_t records_ = 0;
};

}  // namespace mapreduce::detail
