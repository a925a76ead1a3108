#pragma once
// A sorted job's first phase: the mapper runs, in workers, over a small part of the input
// spread evenly over all of it (source.for_each_sampled_input), and each sample task hands
// back a few thousand of the keys emitted, evenly spaced. The parent cuts the partitions'
// key ranges from them (key_ranges.hpp) before the map phase starts. It is a phase of its
// own, not the first tasks of the map phase, because every map worker needs the ranges
// before it writes its first run.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/key_ranges.hpp"
#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/detail/map_work.hpp"
#include "mapreduce/detail/pairs_format.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/emitter.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// How much a sorted job samples: `tasks` sample tasks of `bytes` of file input each (items
// and Datasets pick their own share), and at most `keys_per_task` keys from each.
struct SamplePlan {
  std::size_t tasks = 0;
  std::uint64_t bytes = 0;
  std::size_t keys_per_task = 0;

  // Enough keys that each of `partitions` ranges is cut from at least 128 of them (so a
  // range holds its share to within about a tenth), and about 1/64 of a large input read.
  static SamplePlan make(std::size_t source_tasks, std::uint64_t input_bytes, unsigned workers,
                         std::uint32_t partitions) {
    SamplePlan plan;
    plan.tasks = std::min<std::size_t>(source_tasks, std::max<std::size_t>(16, 2 * std::size_t(workers)));
    if (plan.tasks == 0) return plan;
    plan.bytes = std::max<std::uint64_t>(std::uint64_t(64) << 10, input_bytes / (64 * plan.tasks));
    const std::size_t keys = std::clamp<std::size_t>(std::size_t(partitions) * 128, 4096, std::size_t(1) << 18);
    plan.keys_per_task = (keys + plan.tasks - 1) / plan.tasks;
    return plan;
  }
};

template <class K, class V, class Source, class Mapper>
class SampleWork final : public PhaseWork {
  using View = typename KeyTraits<K>::view;

 public:
  // `distinct`: sample the distinct keys, not the emits. A job with a combiner reduces each
  // distinct key once, so its ranges should hold as many distinct keys each; sampled by
  // emits, a frequent key would take several ranges and leave them empty.
  SampleWork(Source& source, Mapper& mapper, const SamplePlan& plan, bool distinct)
      : source_(source), mapper_(mapper), plan_(plan), distinct_(distinct) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    MapBuffer<K, V> buffer(1, nullptr, nullptr);  // no combiner, one partition: every pair, in emit order
    Emitter<K, V> emit(buffer);
    source_.for_each_sampled_input(task, plan_.tasks, plan_.bytes,
                                   [&](auto&& input) { call_mapper(mapper_, input, emit); });
    const RecordBuffer<K, V>& records = buffer.records();
    const std::string_view run = records.run(0);
    std::vector<View> emitted;
    emitted.reserve(static_cast<std::size_t>(records.count(0)));
    for (const char* r = run.data(); r != run.data() + run.size();) {
      std::uint64_t head;
      const char* k = tagged_record::skip_head(r, head);  // this worker's own buffer: no bounds
      if (tagged_record::is_mark(head)) {
        r = k;
        continue;
      }
      const char* const end = k + (head >> 1);
      emitted.push_back(read_tagged_key<K>(k, end, what));
      r = end;
    }
    if (distinct_) {
      std::sort(emitted.begin(), emitted.end(), [](const View& a, const View& b) { return KeyTraits<K>::less(a, b); });
      emitted.erase(std::unique(emitted.begin(), emitted.end(),
                                [](const View& a, const View& b) { return KeyTraits<K>::equal(a, b); }),
                    emitted.end());
    }
    const std::size_t stride = std::max<std::size_t>(1, emitted.size() / plan_.keys_per_task);
    std::vector<std::pair<View, std::uint8_t>> keys;
    for (std::size_t i = 0; i < emitted.size(); i += stride) keys.emplace_back(emitted[i], 0);
    if (keys.empty()) return;
    publish_pairs<K, std::uint8_t>(link, task, keys);
  }
  void finish(WorkerLink&) override {}
  [[nodiscard]] std::string describe_task(std::size_t task) const override {
    return fmt::format("key sample {} of {}", task + 1, plan_.tasks);
  }
  void descriptors(std::vector<int>& keep) const override {
    if constexpr (requires { source_.descriptors(keep); }) source_.descriptors(keep);
  }

 private:
  static constexpr ReadSite what = read_site<K, V>("key sample", true);

  Source& source_;
  Mapper& mapper_;
  SamplePlan plan_;
  bool distinct_;
};

// The key ranges of `partitions` partitions, from what the sample tasks published (`distinct`:
// as SampleWork's).
template <class K>
KeyRanges<K> ranges_from_samples(const std::vector<Published>& samples, std::uint32_t partitions, bool distinct) {
  std::vector<SharedSegment> segments;
  std::vector<PaddedBytes> padded(samples.size());  // keys are views into these: they live until the ranges are cut
  std::vector<typename KeyTraits<K>::view> keys;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    segments.push_back(SharedSegment::open(samples[i].fd.get()));
    std::string_view bytes(segments.back().data(), segments.back().size());
    if constexpr (!PairsView<K, std::uint8_t>::trusted) bytes = padded[i].pad(bytes, 0);
    PairsView<K, std::uint8_t>(bytes.data(), bytes.size()).for_each([&keys](auto key, std::uint8_t) {
      keys.push_back(key);
    });
  }
  return KeyRanges<K>::from_sample(std::move(keys), partitions, distinct);
}

}  // namespace mapreduce::detail
