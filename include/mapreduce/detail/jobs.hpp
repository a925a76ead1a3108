#pragma once
// The work of each phase, as PhaseWork implementations: map (into runs), reduce (of one
// partition, reading every run in place), and the plain parallel map of Pool::map.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/combiner.hpp"
#include "mapreduce/detail/file_plan.hpp"
#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/detail/table.hpp"
#include "mapreduce/emitter.hpp"
#include "mapreduce/input.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// A (key, value) record of a Dataset, as a task hands it to the mapper.
template <class View, class V>
struct KeyValue {
  View key;
  V value;
};
// A chunk of a FileInput with where it comes from, as a task hands it to the mapper.
struct FileChunk {
  std::string_view text;
  ChunkSource source;
};

template <class T>
inline constexpr bool is_key_value = false;
template <class View, class V>
inline constexpr bool is_key_value<KeyValue<View, V>> = true;

// Map tasks over in-memory items: task t covers items [t * per_task, (t + 1) * per_task).
// The items are read by the forked workers in place: fork gave them the parent's memory.
template <class Items>
class ItemSource {
 public:
  ItemSource(const Items& items, std::size_t per_task) : items_(items), per_task_(per_task) {}
  [[nodiscard]] std::size_t tasks() const noexcept { return (size() + per_task_ - 1) / per_task_; }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(std::ranges::size(items_)); }
  [[nodiscard]] std::size_t begin(std::size_t t) const noexcept { return t * per_task_; }
  [[nodiscard]] std::size_t end(std::size_t t) const noexcept { return std::min(size(), (t + 1) * per_task_); }
  [[nodiscard]] std::string describe(std::size_t t) const {
    return end(t) - begin(t) == 1 ? fmt::format("item {}", begin(t)) : fmt::format("items {}-{}", begin(t), end(t) - 1);
  }
  void diagnose_crash(std::size_t) const noexcept {}
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return t; }
  template <class F>
  void for_each_input(std::size_t t, F&& f) const {
    for (std::size_t i = begin(t); i < end(t); ++i) f(std::ranges::begin(items_)[static_cast<std::ptrdiff_t>(i)]);
  }

 private:
  const Items& items_;
  std::size_t per_task_;
};

// Every `stride`-th task of another source, from `first`: one rank's share of a job that
// several ranks run (MpiPool). Records are tagged with the task's index in the whole job,
// so per-key reducers see values in the same order as on one machine.
template <class Source>
class StridedSource {
 public:
  StridedSource(Source& inner, std::size_t first, std::size_t stride) noexcept
      : inner_(inner), first_(first), stride_(stride) {}
  [[nodiscard]] std::size_t tasks() const noexcept {
    const std::size_t n = inner_.tasks();
    return n > first_ ? (n - first_ + stride_ - 1) / stride_ : 0;
  }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return first_ + t * stride_; }
  [[nodiscard]] std::string describe(std::size_t t) const { return inner_.describe(global_task(t)); }
  void diagnose_crash(std::size_t t) const { inner_.diagnose_crash(global_task(t)); }
  template <class F>
  void for_each_input(std::size_t t, F&& f) {
    inner_.for_each_input(global_task(t), f);
  }

 private:
  Source& inner_;
  std::size_t first_, stride_;
};

// The tasks of another source, tagged as tasks first, first + 1...: one rank's own files in
// a job where several ranks each map their own (MpiInputs::per_rank).
template <class Source>
class OffsetSource {
 public:
  OffsetSource(Source& inner, std::size_t first) noexcept : inner_(inner), first_(first) {}
  [[nodiscard]] std::size_t tasks() const noexcept { return inner_.tasks(); }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return first_ + t; }
  [[nodiscard]] std::string describe(std::size_t t) const { return inner_.describe(t); }
  void diagnose_crash(std::size_t t) const { inner_.diagnose_crash(t); }
  template <class F>
  void for_each_input(std::size_t t, F&& f) {
    inner_.for_each_input(t, f);
  }

 private:
  Source& inner_;
  std::size_t first_;
};

// Map tasks over files, through a FilePlan.
class FileSource {
 public:
  explicit FileSource(FilePlan& plan) noexcept : plan_(plan) {}
  [[nodiscard]] std::size_t tasks() const noexcept { return plan_.tasks(); }
  [[nodiscard]] std::string describe(std::size_t t) const { return plan_.describe(t); }
  void diagnose_crash(std::size_t t) const { plan_.check_unchanged(t); }
  [[nodiscard]] std::uint64_t task_bytes(std::size_t t) const noexcept { return plan_.task_bytes(t); }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return t; }
  template <class F>
  void for_each_input(std::size_t t, F&& f) {
    plan_.for_each_chunk(t, [&f](std::string_view chunk, const ChunkSource& source) { f(FileChunk{chunk, source}); });
  }

 private:
  FilePlan& plan_;
};

template <class K, class V, class Source, class Mapper>
class MapWork final : public PhaseWork {
 public:
  MapWork(Source& source, Mapper& mapper, MapBuffer<K, V>& buffer, std::size_t flush_bytes)
      : source_(source), mapper_(mapper), buffer_(buffer), flush_bytes_(flush_bytes) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    buffer_.set_task(source_.global_task(task));
    Emitter<K, V> emit(buffer_);
    source_.for_each_input(task, [&](auto&& input) {
      if constexpr (std::is_same_v<std::decay_t<decltype(input)>, FileChunk>) {
        // A chunk of a file: mapper(chunk, source, emit) when it wants to know where from.
        if constexpr (std::is_invocable_v<Mapper&, std::string_view, const ChunkSource&, Emitter<K, V>&>) {
          mapper_(input.text, input.source, emit);
        } else {
          mapper_(input.text, emit);
        }
      } else if constexpr (is_key_value<std::decay_t<decltype(input)>>) {
        // A Dataset record: mapper(key, value, emit), or mapper(pair, emit).
        if constexpr (std::is_invocable_v<Mapper&, decltype(input.key), decltype(input.value), Emitter<K, V>&>) {
          mapper_(input.key, input.value, emit);
        } else {
          mapper_(std::pair{input.key, input.value}, emit);
        }
      } else {
        mapper_(input, emit);
      }
    });
    buffer_.drain();
    link.add_records(buffer_.take_records());
    if (buffer_.memory_bytes() >= flush_bytes_) buffer_.flush(link);
  }
  void finish(WorkerLink& link) override { buffer_.flush(link); }
  [[nodiscard]] std::string describe_task(std::size_t task) const override { return source_.describe(task); }
  void diagnose_crash(std::size_t task) const override { source_.diagnose_crash(task); }
  [[nodiscard]] std::uint64_t task_bytes(std::size_t task) const override {
    if constexpr (requires { source_.task_bytes(task); }) {
      return source_.task_bytes(task);
    } else {
      return 0;
    }
  }

 private:
  Source& source_;
  Mapper& mapper_;
  MapBuffer<K, V>& buffer_;
  std::size_t flush_bytes_;
};

// Writes `count` reduced pairs as one segment: [count u64] then [key][value] each.
template <class K, class Out, class Pairs>
void publish_pairs(WorkerLink& link, std::uint64_t tag, const Pairs& pairs) {
  std::size_t bytes = 8;
  for (const auto& [key, value] : pairs) bytes += KeyTraits<K>::size(key) + Codec<Out>::size(value);
  SharedSegment segment = link.create_segment(bytes);
  char* p = segment.data();
  const std::uint64_t count = pairs.size();
  std::memcpy(p, &count, 8);
  p += 8;
  for (const auto& [key, value] : pairs) p = Codec<Out>::write(KeyTraits<K>::write(p, key), value);
  link.publish(segment, tag);
}

template <class K, class V, class Reducer, class Out>
class ReduceWork final : public PhaseWork {
  using View = typename KeyTraits<K>::view;

 public:
  // Task t reduces partition (*partitions)[t], or partition t when `partitions` is null.
  ReduceWork(const std::vector<Published>& runs, Reducer& reducer, const std::vector<std::uint32_t>* partitions = nullptr)
      : runs_(runs), reducer_(reducer), partitions_(partitions) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    if (views_.empty()) {
      // The descriptors were inherited at fork; map each run set once, read-only.
      for (const Published& r : runs_) {
        segments_.push_back(SharedSegment::open(r.fd.get()));
        views_.emplace_back(segments_.back().data(), segments_.back().size());
      }
    }
    const auto p = partitions_ != nullptr ? (*partitions_)[task] : static_cast<std::uint32_t>(task);
    std::uint64_t n = 0;
    for (const auto& v : views_) n += v.count(p);
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
      for (const char* r = run.data(); r != run.data() + run.size();) {
        std::uint64_t hash;
        std::memcpy(&hash, r, 8);
        r += 8;
        const View key = KeyTraits<K>::read(r);  // in place: a view into the shared run
        const V value = Codec<V>::read(r);
        table.add(hash, key, value, combine);
      }
    }
    std::vector<std::pair<View, const V&>> pairs;
    const auto slots = table.sorted_slots();
    pairs.reserve(slots.size());
    for (const auto* s : slots) pairs.emplace_back(s->key, s->value);
    publish_pairs<K, V>(link, p, pairs);
  }

  // Every run of the partition is sorted by (hash, key, task): merge them as streams, so
  // memory holds one cursor per run and the values of one key, however large the runs
  // (spilled runs are read from their files in place).
  void reduce_grouping(std::uint32_t p, std::uint64_t, WorkerLink& link) {
    struct Cursor {
      const char* at;
      const char* end;
    };
    std::vector<Cursor> heap;
    for (const auto& v : views_) {
      const std::string_view run = v.run(p);
      if (!run.empty()) heap.push_back(Cursor{run.data(), run.data() + run.size()});
    }
    // std::*_heap keep the largest first: invert the order for a min-heap.
    auto later = [](const Cursor& a, const Cursor& b) { return tagged_record_less<K>(b.at, a.at); };
    std::make_heap(heap.begin(), heap.end(), later);
    std::vector<std::pair<View, Out>> pairs;
    std::vector<V> values;
    while (!heap.empty()) {
      std::uint64_t hash;
      std::memcpy(&hash, heap.front().at, 8);
      const char* kp = heap.front().at + 12;
      const View key = KeyTraits<K>::read(kp);
      values.clear();
      for (;;) {
        // Take the smallest record while it has this key; its cursor moves on.
        std::uint64_t h;
        std::memcpy(&h, heap.front().at, 8);
        const char* r = heap.front().at + 12;
        if (h != hash || !KeyTraits<K>::equal(KeyTraits<K>::read(r), key)) break;
        values.push_back(Codec<V>::read(r));
        std::pop_heap(heap.begin(), heap.end(), later);
        heap.back().at = r;
        if (r == heap.back().end) {
          heap.pop_back();
        } else {
          std::push_heap(heap.begin(), heap.end(), later);
        }
        if (heap.empty()) break;
      }
      pairs.emplace_back(key, reducer_(key, std::span<const V>(values)));
    }
    publish_pairs<K, Out>(link, p, pairs);
  }

  const std::vector<Published>& runs_;
  Reducer& reducer_;
  const std::vector<std::uint32_t>* partitions_;
  std::vector<SharedSegment> segments_;
  std::vector<RunSetView> views_;
};

// Decodes reduced partitions ([count u64] then [key][value] each) into the result, in the
// order given.
template <class K, class Out>
std::vector<std::pair<K, Out>> decode_pairs(const std::vector<const char*>& partitions) {
  std::uint64_t total = 0;
  for (const char* p : partitions) {
    std::uint64_t count;
    std::memcpy(&count, p, 8);
    total += count;
  }
  std::vector<std::pair<K, Out>> result;
  result.reserve(total);
  for (const char* r : partitions) {
    std::uint64_t count;
    std::memcpy(&count, r, 8);
    r += 8;
    for (std::uint64_t i = 0; i < count; ++i) {
      K key = KeyTraits<K>::own(KeyTraits<K>::read(r));
      Out value = Codec<Out>::read(r);
      result.emplace_back(std::move(key), std::move(value));
    }
  }
  return result;
}

// Reads the reduced partitions, in partition order, into the result.
template <class K, class Out>
std::vector<std::pair<K, Out>> gather_pairs(std::vector<Published>& outputs) {
  std::sort(outputs.begin(), outputs.end(), [](const Published& a, const Published& b) { return a.tag < b.tag; });
  std::vector<SharedSegment> segments;
  std::vector<const char*> parts;
  segments.reserve(outputs.size());
  for (const Published& o : outputs) {
    segments.push_back(SharedSegment::open(o.fd.get()));
    parts.push_back(segments.back().data());
  }
  return decode_pairs<K, Out>(parts);
}

// Pool::map: results of each task as [task u64][count u64][bytes u64][results...].
template <class Items, class F, class R>
class ItemsMapWork final : public PhaseWork {
 public:
  // `each_task`: publish every task's results at once, tagged with the task (imap takes
  // them as they come); else gather a worker's tasks up to `flush_bytes`.
  ItemsMapWork(const ItemSource<Items>& source, F& f, std::size_t flush_bytes, bool each_task = false)
      : source_(source), f_(f), flush_bytes_(flush_bytes), each_task_(each_task) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    const std::size_t at = buffer_.size();
    buffer_.resize(at + 24);
    std::uint64_t count = 0;
    source_.for_each_input(task, [&](const auto& item) {
      R r = f_(item);
      const std::size_t pos = buffer_.size();
      buffer_.resize(pos + Codec<R>::size(r));
      Codec<R>::write(buffer_.data() + pos, r);
      ++count;
    });
    const std::uint64_t header[3] = {task, count, buffer_.size() - at - 24};
    std::memcpy(buffer_.data() + at, header, 24);
    link.add_records(count);
    if (each_task_) {
      flush(link, task);
    } else if (buffer_.size() >= flush_bytes_) {
      flush(link);
    }
  }
  void finish(WorkerLink& link) override { flush(link); }
  [[nodiscard]] std::string describe_task(std::size_t task) const override { return source_.describe(task); }

 private:
  void flush(WorkerLink& link, std::uint64_t tag = 0) {
    if (buffer_.empty()) return;
    if (each_task_ && link.publish_small(std::string_view(buffer_.data(), buffer_.size()), tag)) {
      buffer_.clear();
      return;
    }
    SharedSegment segment = link.create_segment(buffer_.size());
    std::memcpy(segment.data(), buffer_.data(), buffer_.size());
    link.publish(segment, tag);
    if (each_task_) {
      buffer_.clear();  // the next task's results are about as large: keep the capacity
    } else {
      std::vector<char>().swap(buffer_);
    }
  }

  const ItemSource<Items>& source_;
  F& f_;
  std::size_t flush_bytes_;
  bool each_task_;
  std::vector<char> buffer_;
};

template <class R>
std::vector<R> gather_items(std::vector<Published>& outputs, std::size_t tasks, std::size_t items) {
  std::vector<SharedSegment> segments;
  std::vector<const char*> task_data(tasks, nullptr);
  for (const Published& o : outputs) {
    segments.push_back(SharedSegment::open(o.fd.get()));
    const char* p = segments.back().data();
    const char* const end = p + segments.back().size();
    while (p < end) {
      std::uint64_t header[3];
      std::memcpy(header, p, 24);
      task_data[header[0]] = p;
      p += 24 + header[2];
    }
  }
  std::vector<R> result;
  result.reserve(items);
  for (std::size_t t = 0; t < tasks; ++t) {
    const char* p = task_data[t];
    if (p == nullptr) throw Error(fmt::format("map: the results of task {} are missing", t));
    std::uint64_t count;
    std::memcpy(&count, p + 8, 8);
    p += 24;
    for (std::uint64_t i = 0; i < count; ++i) result.push_back(Codec<R>::read(p));
  }
  return result;
}

}  // namespace mapreduce::detail
