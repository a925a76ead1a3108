#pragma once
// Groups the records of one partition by key: the reduce side of a job without a combiner.
// The map workers' runs of the partition are read in place (shared memory, or spill files),
// and a 16-byte reference to each record is radix-sorted on (hash, task), so each key's
// values come out together, in task order, and within a task in emit order. The records
// carry no hash (run_format.hpp): collect() hashes each key as it steps over the record.
//
// Memory is bounded: when the references of the whole partition would not fit in the share
// given, the partition is done in hash ranges, each a scan of every run, so a reducer holds
// the references of one range at a time. (The values of one key are handed over as one span,
// so a single key's values are held whatever the share.) Pure logic over memory.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/radix_sort.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// The sort's buffers, kept by a worker from one partition to the next: allocating them anew
// for each would fault in, and zero, every page again.
struct GroupBuffers {
  std::vector<RecordRef> refs;
  std::vector<RecordRef> scratch;
};

template <class K, class V>
class KeyGrouper {
  using View = typename KeyTraits<K>::view;

 public:
  // The sort key of a record: the top bits of its hash, then its task in the low bits.
  static constexpr int task_bits = 31;
  static constexpr std::size_t bytes_per_record = 2 * sizeof(RecordRef);  // references and sort scratch

  // `runs`: the tagged runs of one partition of `partitions`, one per run set, `records` in
  // all; `memory`: the bytes of references this may hold at once.
  KeyGrouper(std::vector<std::string_view> runs, std::uint32_t partitions, std::uint64_t records, std::size_t memory)
      : runs_(std::move(runs)), partitions_(partitions), records_(records) {
    const std::uint64_t need = records * bytes_per_record;
    ranges_ = static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>((need + memory - 1) / std::max<std::size_t>(memory, 1), 1, std::uint64_t(1) << 16));
  }

  // How many scans of the runs for_each_group makes.
  [[nodiscard]] std::uint32_t ranges() const noexcept { return ranges_; }

  // Calls f(key, values) for every key, in (hash, key) order, with its values in task order
  // and, within a task, in emit order: the same whichever worker ran which task.
  template <class F>
  void for_each_group(GroupBuffers& buffers, F&& f) {
    std::vector<RecordRef>& refs = buffers.refs;
    std::vector<RecordRef>& scratch = buffers.scratch;
    std::vector<V> values;
    for (std::uint32_t range = 0; range < ranges_; ++range) {
      refs.clear();
      refs.reserve(static_cast<std::size_t>(records_ / ranges_ + records_ / (std::uint64_t(ranges_) * 16) + 1024));
      collect(range, refs);
      sort_by_key(refs, scratch, task_bits);
      constexpr std::size_t ahead = 32;  // records are read in a new order: fetch ahead
      for (std::size_t i = 0; i < refs.size();) {
        // A block: the records whose hashes agree above the task bits (one key, nearly always).
        const std::uint64_t top = refs[i].key >> task_bits;
        const View first = key_of(refs[i].at);
        bool one_key = true;
        values.clear();
        std::size_t j = i;
        for (; j < refs.size() && (refs[j].key >> task_bits) == top; ++j) {
          if (j + ahead < refs.size()) __builtin_prefetch(refs[j + ahead].at);
          const char* const end = record_end(refs[j].at);
          const char* p = key_start(refs[j].at);
          const View key = read_key<K>(p, end, what);
          if (!KeyTraits<K>::equal(key, first)) {
            one_key = false;
            break;
          }
          const char* const value = p;
          values.push_back(read_value<V>(p, end, what));
          check_value_end<V>(value, p, end, what);
        }
        if (one_key) {
          f(first, std::span<const V>(values));
        } else {
          for (j = i; j < refs.size() && (refs[j].key >> task_bits) == top; ++j) {
          }
          group_colliding(std::span<const RecordRef>(refs.data() + i, j - i), f);
        }
        i = j;
      }
    }
  }

 private:
  static constexpr ReadSite what = read_site<K, V>("map run", true);

  // Where the key of a record that collect() checked starts, and where the record ends.
  static const char* key_start(const char* record) noexcept {
    std::uint64_t head;
    return tagged_record::skip_head(record, head);
  }
  static const char* record_end(const char* record) noexcept {
    std::uint64_t head;
    const char* const key = tagged_record::skip_head(record, head);
    return key + (head >> 1);
  }
  static View key_of(const char* record) {
    const char* p = key_start(record);
    return read_key<K>(p, record_end(record), what);
  }

  // References to the records of hash range `range`, in run order, each keyed on its key's
  // hash and its task (the last mark before it). Checks every record's head, size and key
  // against its run, so the reads that follow stay inside the segment, and the number of
  // records against what the runs' headers said.
  void collect(std::uint32_t range, std::vector<RecordRef>& refs) const {
    constexpr std::uint64_t task_mask = (std::uint64_t(1) << task_bits) - 1;
    constexpr std::uint64_t no_task = ~std::uint64_t(0);
    std::uint64_t records = 0;
    for (const std::string_view run : runs_) {
      const char* at = run.data();
      const char* const end = run.data() + run.size();
      std::uint64_t task = no_task;
      while (at != end) {
        std::uint64_t head;
        const char* key = tagged_record::read_head(at, end, head);
        if (key == nullptr) throw_corrupt(what, "a record's head runs past the end of its run");
        if (tagged_record::is_mark(head)) {
          task = head >> 1;
          if (task > task_mask) throw_corrupt(what, fmt::format("task {} out of range", task));
          at = key;
          continue;
        }
        const std::uint64_t body = head >> 1;
        if (body > static_cast<std::uint64_t>(end - key)) throw_corrupt(what, "a record runs past the end of its run");
        if (task == no_task) throw_corrupt(what, "a record before any task mark");
        const char* const record_end = key + body;
        const std::uint64_t hash = KeyTraits<K>::hash(read_key<K>(key, record_end, what));
        if (ranges_ == 1 || range_of(hash) == range) refs.push_back(RecordRef{(hash & ~task_mask) | task, at});
        at = record_end;
        ++records;
      }
    }
    if (records != records_) throw_corrupt(what, fmt::format("{} records where {} were written", records, records_));
  }

  // Which of the ranges a hash falls in: the hash's place within its partition, scaled. It
  // grows with the hash, so the ranges, done in order, give the partition in hash order.
  [[nodiscard]] std::uint32_t range_of(std::uint64_t hash) const noexcept {
    const std::uint64_t within = ((hash >> 32) * partitions_) & 0xffffffffULL;
    return static_cast<std::uint32_t>((within * ranges_) >> 32);
  }

  // Records of several keys whose hashes agree above the task bits (rare, or a KeyTraits with
  // a weak hash): put in (hash, key) order by a stable sort, which keeps each key's values in
  // their order, then grouped.
  template <class F>
  void group_colliding(std::span<const RecordRef> block, F& f) {
    struct Entry {
      std::uint64_t hash;
      View key;
      const char* value;
      const char* end;
    };
    std::vector<Entry> entries;
    entries.reserve(block.size());
    for (const RecordRef& r : block) {
      const char* p = key_start(r.at);
      const View key = read_key<K>(p, record_end(r.at), what);
      entries.push_back(Entry{KeyTraits<K>::hash(key), key, p, record_end(r.at)});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      if (a.hash != b.hash) return a.hash < b.hash;
      return !KeyTraits<K>::equal(a.key, b.key) && KeyTraits<K>::less(a.key, b.key);
    });
    std::vector<V> values;
    for (std::size_t i = 0; i < entries.size();) {
      std::size_t j = i;
      values.clear();
      for (; j < entries.size() && entries[j].hash == entries[i].hash &&
             KeyTraits<K>::equal(entries[j].key, entries[i].key);
           ++j) {
        const char* p = entries[j].value;
        values.push_back(read_value<V>(p, entries[j].end, what));
        check_value_end<V>(entries[j].value, p, entries[j].end, what);
      }
      f(entries[i].key, std::span<const V>(values));
      i = j;
    }
  }

  std::vector<std::string_view> runs_;
  std::uint32_t partitions_;
  std::uint64_t records_;
  std::uint32_t ranges_ = 1;
};

}  // namespace mapreduce::detail
