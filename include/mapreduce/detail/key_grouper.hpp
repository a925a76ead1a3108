#pragma once
// Groups the records of one partition by key: the reduce side of a job without a combiner.
// The map workers' runs of the partition are read in place (shared memory, or spill files)
// in two sequential passes, and nothing is sorted but the distinct keys:
//
//   1. every record's key is hashed (records carry no hash: run_format.hpp) and looked up
//      in a small open-addressing table of the partition's distinct keys, which gives it
//      an id (4 bytes a record) and counts it; the task marks cut the runs into segments;
//   2. the segments are put in task order (stably: a task's records in one worker's runs
//      stay in run order), and each record's value is read and placed at its key's next
//      place in one array of values, counted out from the counts of pass 1.
//
// Each key's values then lie together in task order, and within a task in emit order,
// whichever worker ran which task. Keys are handed over in (hash, key) order.
//
// Measured against a radix sort of 16-byte references to every record (then a walk back
// through them to each record, in sorted order): on 256 MiB of text with 346 k distinct
// words, 2 workers, the reduce phase went from 0.65 s to about 0.4 s (docs/design.md).
//
// Memory is bounded: ids, values and keys together stay within the share given. When a
// partition's would not fit, it is done in hash ranges, each a pass over every run, so a
// reducer holds one range's ids, values and keys at a time; a range that proves to hold
// more distinct keys than its share is halved as it is read, unless its keys all lie at
// one place (a KeyTraits with a constant hash: then they are grouped in that one range,
// slowly, with long probes). The values of one key are handed over as one span, so a
// single key's values are held whatever the share.
// Pure logic over memory.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// The grouper's buffers, kept by a worker from one partition to the next: allocating them
// anew for each would fault in, and zero, every page again.
template <class K, class V>
struct GroupBuffers {
  using View = typename KeyTraits<K>::view;
  // A distinct key of the range: its first record's key, its hash, how many records it
  // has, and where its values start.
  struct Key {
    View key;
    std::uint64_t hash;
    std::uint64_t count;
    std::uint64_t start;
  };
  struct Slot {
    std::uint64_t hash;
    std::uint32_t id;  // empty_slot when empty
  };
  // The records of one run from one task mark to the next.
  struct Segment {
    std::uint64_t task;
    std::uint64_t first;  // its first record's index in `ids`
    const char* at;       // its first record
  };
  static constexpr std::uint32_t empty_slot = UINT32_MAX;

  std::vector<std::uint32_t> ids;  // the key of each record of the range, in run order
  std::vector<Key> keys;
  std::vector<Slot> table;
  std::vector<Segment> segments;
  std::vector<std::uint32_t> order;  // the keys in (hash, key) order
  std::vector<V> values;             // each key's values, together
  std::vector<const char*> records;  // instead, each key's records, for a V with no default
};

template <class K, class V>
class KeyGrouper {
  using View = typename KeyTraits<K>::view;
  using Buffers = GroupBuffers<K, V>;

 public:
  // Values are read once, straight into their place, when a V can be made first and
  // assigned; otherwise each key's records are placed, and read when the key is handed over.
  static constexpr bool placed_in_array = std::is_default_constructible_v<V> && std::is_move_assignable_v<V>;
  // What the grouper holds per record of the range at hand (its key's id and its value),
  // and per distinct key of the range (the key, its table slots at most half full, its
  // place in the order).
  static constexpr std::size_t bytes_per_record = sizeof(std::uint32_t) +
                                                  (placed_in_array ? sizeof(V) : sizeof(const char*));
  static constexpr std::size_t bytes_per_key = sizeof(typename Buffers::Key) + 2 * sizeof(typename Buffers::Slot) +
                                               sizeof(std::uint32_t);

  // `runs`: the tagged runs of one partition of `partitions`, one per run set, `records` in
  // all; `memory`: the bytes this may hold at once, half for the records of a range and
  // half for its distinct keys.
  KeyGrouper(std::vector<std::string_view> runs, std::uint32_t partitions, std::uint64_t records, std::size_t memory)
      : runs_(std::move(runs)), partitions_(partitions), records_(records),
        half_(std::max<std::size_t>(memory / 2, 1)) {
    ranges_ = static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>((records * bytes_per_record + half_ - 1) / half_, 1, max_ranges));
  }

  // How many ranges the partition is done in (after for_each_group, including the splits
  // it made as it read).
  [[nodiscard]] std::uint32_t ranges() const noexcept { return ranges_; }

  // Calls f(key, values) for every key, in (hash, key) order, with its values in task order
  // and, within a task, in emit order: the same whichever worker ran which task.
  template <class F>
  void for_each_group(Buffers& buffers, F&& f) {
    // The ranges still to do, the next one last: equal parts of the hash's place within the
    // partition, so that doing them in order gives the partition in hash order.
    std::vector<Range> todo;
    for (std::uint32_t i = ranges_; i-- > 0;)
      todo.push_back(Range{place_span * i / ranges_, place_span * (i + 1) / ranges_});
    while (!todo.empty()) {
      const Range range = todo.back();
      todo.pop_back();
      if (!collect(range, buffers)) {
        // More distinct keys than the share, spread over its places: this range, in two.
        const std::uint64_t mid = range.first + (range.last - range.first) / 2;
        todo.push_back(Range{mid, range.last});
        todo.push_back(Range{range.first, mid});
        ++ranges_;
        continue;
      }
      place_values(range, buffers);
      order_keys(buffers);
      for (const std::uint32_t id : buffers.order) {
        const typename Buffers::Key& k = buffers.keys[id];
        if constexpr (placed_in_array) {
          f(k.key, std::span<const V>(buffers.values.data() + k.start, static_cast<std::size_t>(k.count)));
        } else {
          // A V that cannot be made empty first: read from its records, in the order placed.
          buffers.values.clear();
          for (std::uint64_t i = k.start; i != k.start + k.count; ++i) {
            const char* at = buffers.records[static_cast<std::size_t>(i)];
            std::uint64_t head;
            const char* p = tagged_record::skip_head(at, head);
            const char* const end = p + (head >> 1);
            (void)read_tagged_key<K>(p, end, what);
            const char* const value = p;
            buffers.values.push_back(read_value<V>(p, end, what));
            check_value_end<V>(value, p, end, what);
          }
          f(k.key, std::span<const V>(buffers.values));
        }
      }
    }
  }

 private:
  static constexpr ReadSite what = read_site<K, V>("map run", true);
  static constexpr std::uint64_t max_ranges = std::uint64_t(1) << 16;
  static constexpr std::uint64_t place_span = std::uint64_t(1) << 32;
  // Places [first, last) of the hash within the partition (place_of).
  struct Range {
    std::uint64_t first, last;
    [[nodiscard]] bool whole() const noexcept { return first == 0 && last == place_span; }
    [[nodiscard]] bool holds(std::uint64_t place) const noexcept { return place >= first && place < last; }
  };

  // Pass 1: the ids of the records of `range`, the distinct keys with their counts, and
  // the segments. Checks every record's head, size and key against its run, so pass 2
  // stays inside the segment, and the number of records against what the runs' headers
  // said. Returns false, having stopped early, when the range holds more distinct keys than
  // its share and they lie at more than one place, so that halving the range divides them.
  // (Keys that share a place, as with a constant KeyTraits::hash, are done in one range
  // whatever their number.)
  bool collect(const Range& range, Buffers& b) {
    constexpr std::uint64_t no_task = ~std::uint64_t(0);
    const std::uint64_t max_keys = std::max<std::uint64_t>(half_ / bytes_per_key, 1024);
    const bool whole = range.whole();
    b.ids.clear();
    // A table for as many keys as the last range had: clearing a larger one costs as much
    // as the range's records, when ranges are many.
    const std::size_t slots = std::bit_ceil(std::max<std::size_t>(b.keys.size() * 2, 1024));
    b.keys.clear();
    b.segments.clear();
    b.table.assign(slots, typename Buffers::Slot{0, Buffers::empty_slot});
    std::uint64_t first_place = place_span, last_place = 0;  // of the keys seen
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
          if (task > tagged_record::max_task) throw_corrupt(what, fmt::format("task {} out of range", task));
          b.segments.push_back(typename Buffers::Segment{task, b.ids.size(), key});
          at = key;
          continue;
        }
        const std::uint64_t body = head >> 1;
        if (body > static_cast<std::uint64_t>(end - key)) throw_corrupt(what, "a record runs past the end of its run");
        if (task == no_task) throw_corrupt(what, "a record before any task mark");
        const char* const record_end = key + body;
        const View k = read_tagged_key<K>(key, record_end, what);
        const std::uint64_t hash = KeyTraits<K>::hash(k);
        if (whole || range.holds(place_of(hash))) {
          const std::size_t known = b.keys.size();
          b.ids.push_back(id_of(b, hash, k));
          if (b.keys.size() != known) {
            first_place = std::min(first_place, place_of(hash));
            last_place = std::max(last_place, place_of(hash));
            if (b.keys.size() > max_keys && first_place != last_place) return false;
          }
        }
        at = record_end;
        ++records;
      }
    }
    if (records != records_) throw_corrupt(what, fmt::format("{} records where {} were written", records, records_));
    return true;
  }

  // The id of key k, added (with a count of 0) when it is new; counts the record.
  std::uint32_t id_of(Buffers& b, std::uint64_t hash, const View& k) {
    if ((b.keys.size() + 1) * 4 > b.table.size() * 3) grow(b);
    const std::size_t mask = b.table.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
      typename Buffers::Slot& s = b.table[i];
      if (s.id == Buffers::empty_slot) {
        if (b.keys.size() >= Buffers::empty_slot) throw Error("over 4 G distinct keys in one partition");
        s = typename Buffers::Slot{hash, static_cast<std::uint32_t>(b.keys.size())};
        b.keys.push_back(typename Buffers::Key{k, hash, 1, 0});
        return s.id;
      }
      if (s.hash == hash && KeyTraits<K>::equal(b.keys[s.id].key, k)) {
        ++b.keys[s.id].count;
        return s.id;
      }
    }
  }

  // Twice the slots, placed again from their stored hashes.
  static void grow(Buffers& b) {
    std::vector<typename Buffers::Slot> bigger(b.table.size() * 2, typename Buffers::Slot{0, Buffers::empty_slot});
    const std::size_t mask = bigger.size() - 1;
    for (const typename Buffers::Slot& s : b.table) {
      if (s.id == Buffers::empty_slot) continue;
      std::size_t i = static_cast<std::size_t>(s.hash) & mask;
      while (bigger[i].id != Buffers::empty_slot) i = (i + 1) & mask;
      bigger[i] = s;
    }
    b.table.swap(bigger);
  }

  // Pass 2: each key's values, in task order, at keys[id].start onwards in `values`. The
  // ids are those of the range's records only: with several ranges, each record's place is
  // found again to tell whether the next id is its.
  void place_values(const Range& range, Buffers& b) {
    std::uint64_t in_range = 0;
    for (typename Buffers::Key& k : b.keys) {
      k.start = in_range;
      in_range += k.count;
    }
    if constexpr (placed_in_array) {
      b.values.resize(static_cast<std::size_t>(in_range));
    } else {
      b.records.resize(static_cast<std::size_t>(in_range));
    }
    // The ids of segment i are [first_i, first_{i+1}); their ends, before sorting.
    std::vector<std::uint64_t> ends(b.segments.size());
    for (std::size_t i = 0; i < b.segments.size(); ++i) {
      ends[i] = i + 1 < b.segments.size() ? b.segments[i + 1].first : b.ids.size();
    }
    std::vector<std::uint32_t> by_task(b.segments.size());
    for (std::uint32_t i = 0; i < by_task.size(); ++i) by_task[i] = i;
    std::stable_sort(by_task.begin(), by_task.end(),
                     [&](std::uint32_t x, std::uint32_t y) { return b.segments[x].task < b.segments[y].task; });
    const bool whole = range.whole();
    // keys[id].start moves along as values are placed; put back after.
    for (const std::uint32_t s : by_task) {
      const char* at = b.segments[s].at;
      for (std::uint64_t r = b.segments[s].first; r != ends[s];) {
        std::uint64_t head;
        const char* p = tagged_record::skip_head(at, head);  // checked in pass 1; no mark within
        const char* const end = p + (head >> 1);
        const char* const record = at;
        at = end;
        const View key = read_tagged_key<K>(p, end, what);
        if (!whole && !range.holds(place_of(KeyTraits<K>::hash(key)))) continue;
        const std::uint32_t id = b.ids[static_cast<std::size_t>(r++)];
        const auto place = static_cast<std::size_t>(b.keys[id].start++);
        if constexpr (placed_in_array) {
          const char* const value = p;
          b.values[place] = read_value<V>(p, end, what);
          check_value_end<V>(value, p, end, what);
        } else {
          b.records[place] = record;
        }
      }
    }
    for (typename Buffers::Key& k : b.keys) k.start -= k.count;
  }

  // The range's keys in (hash, key) order: an order that does not depend on which worker ran
  // which task, and a sorted job's partitions are then sorted by key from it.
  static void order_keys(Buffers& b) {
    b.order.resize(b.keys.size());
    for (std::uint32_t i = 0; i < b.order.size(); ++i) b.order[i] = i;
    std::sort(b.order.begin(), b.order.end(), [&](std::uint32_t x, std::uint32_t y) {
      const typename Buffers::Key& a = b.keys[x];
      const typename Buffers::Key& c = b.keys[y];
      if (a.hash != c.hash) return a.hash < c.hash;
      return KeyTraits<K>::less(a.key, c.key);
    });
  }

  // The hash's place within its partition, in [0, 2^32): it grows with the hash, so ranges
  // of places, done in order, give the partition in hash order.
  [[nodiscard]] std::uint64_t place_of(std::uint64_t hash) const noexcept {
    return ((hash >> 32) * partitions_) & 0xffffffffULL;
  }

  std::vector<std::string_view> runs_;
  std::uint32_t partitions_;
  std::uint64_t records_;
  std::size_t half_;  // of the memory given: for one range's records, and for its keys
  std::uint32_t ranges_ = 1;
};

}  // namespace mapreduce::detail
