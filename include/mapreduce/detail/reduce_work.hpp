#pragma once
// The reduce phase's work: each partition reduced from every worker's run in place, with a
// hash table when the reducer combines, or a merge of the sorted runs when it takes every
// value of a key; written as a reduced partition (pairs_format.hpp). And the parent's gather.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/combiner.hpp"
#include "mapreduce/detail/key_grouper.hpp"
#include "mapreduce/detail/pairs_format.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/detail/table.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// Writes reduced pairs as one segment (pairs_format.hpp) and hands it to the parent.
template <class K, class Out, class Pairs>
void publish_pairs(WorkerLink& link, std::uint64_t tag, const Pairs& pairs) {
  const std::size_t bytes = pairs_bytes<K, Out>(pairs);
  SharedSegment segment = link.create_segment(bytes);
  if (write_pairs<K, Out>(segment.data(), pairs) != segment.data() + bytes) {
    throw Error("Codec mismatch: the reduced pairs' write() did not write what size() said");
  }
  link.publish(segment, tag);
}

template <class K, class V, class Reducer, class Out>
class ReduceWork final : public PhaseWork {
  using View = typename KeyTraits<K>::view;

 public:
  // Task t reduces partition (*partitions)[t], or partition t when `partitions` is null.
  // `group_memory`: what a worker may hold to group a partition (jobs without a combiner).
  ReduceWork(const std::vector<Published>& runs, Reducer& reducer, const std::vector<std::uint32_t>* partitions,
             std::size_t group_memory)
      : runs_(runs), reducer_(reducer), partitions_(partitions), group_memory_(group_memory) {}

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
  void reduce_combining(std::uint32_t p, std::uint64_t n, WorkerLink& link) {
    CombineTable<K, V, false> table(n);
    auto combine = [this](const V& a, const V& b) -> V { return reducer_(a, b); };
    for (const auto& v : views_) {
      const std::string_view run = v.run(p);
      const char* const end = run.data() + run.size();
      for (const char* r = run.data(); r < end;) {
        const std::uint64_t hash = run_record::hash(r);
        r += run_record::untagged_head;
        const View key = KeyTraits<K>::read(r);  // in place: a view into the shared run
        const V value = Codec<V>::read(r);
        if (r > end) throw_overrun("map run");
        table.add(hash, key, value, combine);
      }
    }
    std::vector<std::pair<View, const V&>> pairs;
    const auto slots = table.sorted_slots();
    pairs.reserve(slots.size());
    for (const auto* s : slots) pairs.emplace_back(s->key, s->value);
    publish_pairs<K, V>(link, p, pairs);
  }

  // The partition's records sorted at once, by (hash, task), and grouped (key_grouper.hpp).
  void reduce_grouping(std::uint32_t p, std::uint64_t n, WorkerLink& link) {
    std::vector<std::string_view> runs;
    for (const auto& v : views_) runs.push_back(v.run(p));
    std::vector<std::pair<View, Out>> pairs;
    KeyGrouper<K, V>(std::move(runs), views_.front().partitions(), n, group_memory_)
        .for_each_group(group_buffers_,
                        [&](View key, std::span<const V> values) { pairs.emplace_back(key, reducer_(key, values)); });
    publish_pairs<K, Out>(link, p, pairs);
  }

  const std::vector<Published>& runs_;
  Reducer& reducer_;
  const std::vector<std::uint32_t>* partitions_;
  std::size_t group_memory_;
  GroupBuffers group_buffers_;
  std::vector<SharedSegment> segments_;
  std::vector<RunSetView> views_;
};

// Decodes reduced partitions (pairs_format.hpp) into the result, in the order given.
template <class K, class Out>
std::vector<std::pair<K, Out>> decode_pairs(const std::vector<std::string_view>& partitions) {
  std::uint64_t total = 0;
  for (const std::string_view p : partitions) total += PairsView<K, Out>(p.data(), p.size()).count();
  std::vector<std::pair<K, Out>> result;
  result.reserve(total);
  for (const std::string_view p : partitions) {
    PairsView<K, Out>(p.data(), p.size()).for_each([&result](auto key, Out value) {
      result.emplace_back(KeyTraits<K>::own(key), std::move(value));
    });
  }
  return result;
}

// Reads the reduced partitions, in partition order, into the result.
template <class K, class Out>
std::vector<std::pair<K, Out>> gather_pairs(std::vector<Published>& outputs) {
  std::sort(outputs.begin(), outputs.end(), [](const Published& a, const Published& b) { return a.tag < b.tag; });
  std::vector<SharedSegment> segments;
  std::vector<std::string_view> parts;
  segments.reserve(outputs.size());
  for (const Published& o : outputs) {
    segments.push_back(SharedSegment::open(o.fd.get()));
    parts.emplace_back(segments.back().data(), segments.back().size());
  }
  return decode_pairs<K, Out>(parts);
}

}  // namespace mapreduce::detail
