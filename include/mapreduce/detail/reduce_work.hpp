#pragma once
// The reduce phase's work: each partition reduced from every worker's run in place, with a
// hash table when the reducer combines, or grouped by key (key_grouper.hpp) when it takes
// every value of a key; written as a reduced partition (pairs_format.hpp). And the parent's gather.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/combiner.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/key_grouper.hpp"
#include "mapreduce/detail/key_ranges.hpp"
#include "mapreduce/detail/pairs_format.hpp"
#include "mapreduce/detail/part_file_writer.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/detail/table.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// Writes reduced pairs as one segment (pairs_format.hpp) and hands it to the parent. With
// `in_message`, pairs of a few KiB go in the message itself (WorkerLink::publish_small):
// no segment to create, reserve, pass and map, which is most of a small job's reduce.
template <class K, class Out, class Pairs>
void publish_pairs(WorkerLink& link, std::uint64_t tag, const Pairs& pairs, bool in_message = false) {
  const std::size_t bytes = pairs_bytes<K, Out>(pairs);
  if (in_message && bytes <= WorkerLink::max_small_bytes) {
    ByteBuffer buffer;
    buffer.reserve(bytes);
    if (write_pairs<K, Out>(buffer.data(), pairs) != buffer.data() + bytes) throw_unstable_size<K, Out>();
    if (link.publish_small(std::string_view(buffer.data(), bytes), tag)) return;
  }
  if constexpr (trusted_key<K> && trusted_codec<Out>) {
    SharedSegment segment = link.create_segment(bytes);
    write_pairs<K, Out>(segment.data(), pairs);
    link.publish(segment, tag);
  } else {
    // A user's write() gets room after each record (codec_guard.hpp), which the segment,
    // sized exactly for its reader, has not: write to a buffer, checked, then into a
    // segment (WorkerLink::write_segment).
    ByteBuffer buffer;
    buffer.reserve(bytes);
    if (write_pairs<K, Out>(buffer.data(), pairs) != buffer.data() + bytes) {
      throw_unstable_size<K, Out>();
    }
    link.publish(link.write_segment(bytes, {std::string_view(buffer.data(), bytes)}), tag);
  }
}

// What the reducers make of each partition, besides reducing it.
struct ReduceTarget {
  bool key_order = false;                 // sort it by key (a sorted job's partitions are key ranges)
  const PartFileTarget* files = nullptr;  // write it to a part file there; null: publish a segment
  bool gathered = false;                  // the parent reads it once (gather_pairs): a small one may come in a message
};

template <class K, class V, class Reducer, class Out>
class ReduceWork final : public PhaseWork {
  using View = typename KeyTraits<K>::view;

 public:
  // Task t reduces partition (*partitions)[t], or partition t when `partitions` is null.
  // `group_memory`: what a worker may hold to group a partition (jobs without a combiner).
  ReduceWork(const std::vector<Published>& runs, Reducer& reducer, const std::vector<std::uint32_t>* partitions,
             std::size_t group_memory, ReduceTarget output = {})
      : runs_(runs), reducer_(reducer), partitions_(partitions), group_memory_(group_memory), output_(output) {}
  // The same, over the partitions listed, which it keeps.
  ReduceWork(const std::vector<Published>& runs, Reducer& reducer, std::vector<std::uint32_t> partitions,
             std::size_t group_memory, ReduceTarget output = {})
      : runs_(runs), reducer_(reducer), owned_partitions_(std::move(partitions)), partitions_(&owned_partitions_),
        group_memory_(group_memory), output_(output) {}

  void descriptors(std::vector<int>& keep) const override {
    for (const Published& r : runs_) keep.push_back(r.fd.get());
  }

  void run_task(std::size_t task, WorkerLink& link) override {
    if (views_.empty()) {
      // The descriptors were inherited at fork; map each run set once, read-only. No
      // MADV_SEQUENTIAL: a reducer reads one partition's range of each, and readahead past
      // it would, in spill files under a memory limit, evict what the others read.
      for (const Published& r : runs_) {
        segments_.push_back(SharedSegment::open(r.fd.get()));
        views_.emplace_back(segments_.back().data(), segments_.back().size());
      }
    }
    const auto p = partitions_ != nullptr ? (*partitions_)[task] : static_cast<std::uint32_t>(task);
    std::uint64_t n = 0;
    for (const auto& v : views_) {
      // A run set cut for another job's partitions, or of the other kind, would be misread.
      if (p >= v.partitions() || v.tagged() == is_combine<Reducer, K, V>()) {
        throw Error(fmt::format("corrupt run set: {} partitions, {}, read for partition {}", v.partitions(),
                                v.tagged() ? "tagged" : "untagged", p));
      }
      n += v.count(p);
    }
    // The partition's range of every run set, paged in with one call each.
    for (std::size_t i = 0; i < views_.size(); ++i) segments_[i].populate(views_[i].offset(p), views_[i].run(p).size());
    if (n == 0) return;
    if constexpr (is_combine<Reducer, K, V>()) {
      reduce_combining(p, n, link);
    } else {
      reduce_grouping(p, n, link);
    }
  }
  void finish(WorkerLink&) override {}
  [[nodiscard]] std::string describe_task(std::size_t task) const override {
    return fmt::format("partition {}", partitions_ != nullptr ? (*partitions_)[task] : task);
  }

 private:
  // The run of partition p in run set i; with a user's Codec, one followed by codec_slack
  // readable bytes (a padded copy, kept in `padded`, where the segment has fewer after it).
  std::string_view run_of(std::size_t i, std::uint32_t p, PaddedBytes& padded) const {
    const std::string_view run = views_[i].run(p);
    if constexpr (trusted_key<K> && trusted_codec<V>) {
      (void)padded;
      return run;
    } else {
      return padded.pad(run, views_[i].size() - static_cast<std::size_t>(views_[i].offset(p + 1)));
    }
  }

  void reduce_combining(std::uint32_t p, std::uint64_t n, WorkerLink& link) {
    static constexpr ReadSite what = read_site<K, V>("map run");
    CombineTable<K, V, false> table(n);
    auto combine = [this](const V& a, const V& b) -> V { return reducer_(a, b); };
    PaddedBytes padded;  // keys are views into the runs: their copies live until the pairs are written
    for (std::size_t i = 0; i < views_.size(); ++i) {
      const std::string_view run = run_of(i, p, padded);
      const char* const end = run.data() + run.size();
      std::uint64_t records = 0;
      for (const char* r = run.data(); r < end; ++records) {
        if (static_cast<std::size_t>(end - r) < run_record::untagged_head) [[unlikely]] {
          throw_corrupt(what, "a record runs past its end");
        }
        const std::uint64_t hash = run_record::hash(r);
        // 0 marks an empty slot of the table: no key hashes to it, only bad bytes do.
        if (hash == 0) [[unlikely]]
          throw_corrupt(what, "a record with hash 0, which no KeyTraits::hash may give");
        r += run_record::untagged_head;
        const View key = read_key<K>(r, end, what);  // in place: a view into the shared run
        const V value = read_value<V>(r, end, what);
        table.add(hash, key, value, combine);
      }
      // A read() that stops short of its value shifts every record after it: caught here
      // at the latest, if no length on the way was out of bounds.
      if (records != views_[i].count(p)) [[unlikely]] {
        throw_corrupt(what, fmt::format("{} records where {} were written", records, views_[i].count(p)));
      }
    }
    std::vector<std::pair<View, const V&>> pairs;
    auto slots = output_.key_order ? table.slots() : table.sorted_slots();
    if (output_.key_order) sort_in_key_order<K>(slots, [](const auto* s) -> View { return s->key(); });
    pairs.reserve(slots.size());
    for (const auto* s : slots) pairs.emplace_back(s->key(), s->value);
    emit_partition<V>(p, pairs, link);
  }

  // A reduced partition: to the parent as a segment, or to its part file.
  template <class O, class Pairs>
  void emit_partition(std::uint32_t p, const Pairs& pairs, WorkerLink& link) {
    if (output_.files != nullptr) {
      write_part_file<K, O>(output_.files->directory + "/" + part_file_name(p), output_.files->format, pairs);
      // The file is whole: say so, with its pairs, so the parent counts them once and a
      // later crash of this worker does not run this partition again.
      const std::uint64_t count = pairs.size();
      if (!link.publish_small(std::string_view(reinterpret_cast<const char*>(&count), sizeof(count)), p)) {
        throw Error("a part file's report did not fit in a message");
      }
    } else {
      publish_pairs<K, O>(link, p, pairs, output_.gathered);
    }
  }

  // The partition's records grouped by key, values in task order (key_grouper.hpp).
  void reduce_grouping(std::uint32_t p, std::uint64_t n, WorkerLink& link) {
    PaddedBytes padded;  // keys are views into the runs: their copies live until the pairs are written
    std::vector<std::string_view> runs;
    for (std::size_t i = 0; i < views_.size(); ++i) runs.push_back(run_of(i, p, padded));
    std::vector<std::pair<View, Out>> pairs;
    KeyGrouper<K, V>(std::move(runs), views_.front().partitions(), n, group_memory_)
        .for_each_group(group_buffers_,
                        [&](View key, std::span<const V> values) { pairs.emplace_back(key, reducer_(key, values)); });
    if (output_.key_order) sort_in_key_order<K>(pairs, [](const auto& pair) -> View { return pair.first; });
    emit_partition<Out>(p, pairs, link);
  }

  const std::vector<Published>& runs_;
  Reducer& reducer_;
  std::vector<std::uint32_t> owned_partitions_;
  const std::vector<std::uint32_t>* partitions_;
  std::size_t group_memory_;
  ReduceTarget output_;
  GroupBuffers<K, V> group_buffers_;
  std::vector<SharedSegment> segments_;
  std::vector<RunSetView> views_;
};

// Decodes reduced partitions (pairs_format.hpp) into the result, in the order given.
// `partitions` need no bytes after them: with a user's Codec, each is copied with room
// after it (codec_guard.hpp) before it is read.
template <class K, class Out>
std::vector<std::pair<K, Out>> decode_pairs(const std::vector<std::string_view>& partitions) {
  std::uint64_t total = 0;
  for (const std::string_view p : partitions) total += PairsView<K, Out>(p.data(), p.size()).count();
  std::vector<std::pair<K, Out>> result;
  result.reserve(total);
  for (std::string_view p : partitions) {
    PaddedBytes padded;
    if constexpr (!PairsView<K, Out>::trusted) p = padded.pad(p, 0);
    PairsView<K, Out>(p.data(), p.size()).for_each([&result](auto key, Out value) {
      result.emplace_back(KeyTraits<K>::own(key), std::move(value));
    });
  }
  return result;
}

// Reads the reduced partitions, in partition order, into the result: those in segments and
// those that came in messages (publish_pairs with `in_message`).
template <class K, class Out>
std::vector<std::pair<K, Out>> gather_pairs(const PhaseOutcome& reduced) {
  std::vector<SharedSegment> segments;
  std::vector<std::pair<std::uint64_t, std::string_view>> tagged;
  segments.reserve(reduced.published.size());
  for (const Published& o : reduced.published) {
    segments.push_back(SharedSegment::open(o.fd.get()));
    tagged.emplace_back(o.tag, std::string_view(segments.back().data(), segments.back().size()));
  }
  for (const SmallResult& s : reduced.small) tagged.emplace_back(s.tag, std::string_view(s.data));
  std::sort(tagged.begin(), tagged.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string_view> parts;
  parts.reserve(tagged.size());
  for (const auto& t : tagged) parts.push_back(t.second);
  return decode_pairs<K, Out>(parts);
}

}  // namespace mapreduce::detail
