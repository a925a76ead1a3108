#pragma once
// Where a job's map tasks come from: files, in-memory items, a Dataset (dataset.hpp), or a
// rank's share of any of them (MpiPool). Every source has the interface TaskSource checks,
// so one MapWork and one job runner serve them all.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/detail/file_plan.hpp"
#include "mapreduce/input.hpp"

namespace mapreduce::detail {

// What every task source provides. Task t of a source is numbered global_task(t) in the
// whole job (they differ on an MPI rank), which orders the values of a per-key reducer.
template <class S>
concept TaskSource = requires(S& s, const S& cs, std::size_t t) {
  { cs.tasks() } -> std::convertible_to<std::size_t>;
  { cs.global_task(t) } -> std::convertible_to<std::size_t>;
  { cs.describe(t) } -> std::convertible_to<std::string>;      // "words.txt bytes 0-1048576"
  { cs.task_bytes(t) } -> std::convertible_to<std::uint64_t>;  // input bytes, for progress; 0: unknown
  cs.diagnose_crash(t);                // throws InputError when the input explains a worker's crash
  s.for_each_input(t, [](auto&&) {});  // the task's inputs, one at a time
};

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
  [[nodiscard]] std::uint64_t task_bytes(std::size_t) const noexcept { return 0; }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return t; }
  template <class F>
  void for_each_input(std::size_t t, F&& f) const {
    for (std::size_t i = begin(t); i < end(t); ++i) f(std::ranges::begin(items_)[static_cast<std::ptrdiff_t>(i)]);
  }
  // Sample i of `samples` (a sorted job's sample of its keys, sample_work.hpp): its share
  // of a few thousand items spread evenly over all of them.
  template <class F>
  void for_each_sampled_input(std::size_t i, std::size_t samples, std::uint64_t, F&& f) const {
    const std::size_t n = size(), picked = std::min<std::size_t>(n, 16384);
    for (std::size_t j = i * picked / samples; j < (i + 1) * picked / samples; ++j) {
      f(std::ranges::begin(items_)[static_cast<std::ptrdiff_t>(j * n / picked)]);
    }
  }

 private:
  const Items& items_;
  std::size_t per_task_;
};

// Every `stride`-th task of another source, from `first`: one rank's share of a job that
// several ranks run (MpiPool). Records are tagged with the task's index in the whole job,
// so per-key reducers see values in the same order as on one machine.
template <TaskSource Source>
class StridedSource {
 public:
  StridedSource(Source& inner, std::size_t first, std::size_t stride) noexcept
      : inner_(inner), first_(first), stride_(stride) {}
  [[nodiscard]] std::size_t tasks() const noexcept {
    const std::size_t n = inner_.tasks();
    return n > first_ ? (n - first_ + stride_ - 1) / stride_ : 0;
  }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return first_ + t * stride_; }
  void descriptors(std::vector<int>& keep) const {
    if constexpr (requires { inner_.descriptors(keep); }) inner_.descriptors(keep);
  }
  [[nodiscard]] std::string describe(std::size_t t) const { return inner_.describe(global_task(t)); }
  void diagnose_crash(std::size_t t) const { inner_.diagnose_crash(global_task(t)); }
  [[nodiscard]] std::uint64_t task_bytes(std::size_t t) const { return inner_.task_bytes(global_task(t)); }
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
template <TaskSource Source>
class OffsetSource {
 public:
  OffsetSource(Source& inner, std::size_t first) noexcept : inner_(inner), first_(first) {}
  [[nodiscard]] std::size_t tasks() const noexcept { return inner_.tasks(); }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return first_ + t; }
  void descriptors(std::vector<int>& keep) const {
    if constexpr (requires { inner_.descriptors(keep); }) inner_.descriptors(keep);
  }
  [[nodiscard]] std::string describe(std::size_t t) const { return inner_.describe(t); }
  void diagnose_crash(std::size_t t) const { inner_.diagnose_crash(t); }
  [[nodiscard]] std::uint64_t task_bytes(std::size_t t) const { return inner_.task_bytes(t); }
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
  void descriptors(std::vector<int>& keep) const { plan_.descriptors(keep); }
  template <class F>
  void for_each_input(std::size_t t, F&& f) {
    plan_.for_each_chunk(t, [&f](std::string_view chunk, const ChunkSource& source) { f(FileChunk{chunk, source}); });
  }
  // Sample i of `samples` (sample_work.hpp): the first `bytes` of a task spread evenly over
  // the input, cut after a delimiter so the mapper still sees whole records.
  template <class F>
  void for_each_sampled_input(std::size_t i, std::size_t samples, std::uint64_t bytes, F&& f) {
    std::uint64_t left = bytes;
    plan_.for_each_chunk(i * tasks() / samples, [&](std::string_view chunk, const ChunkSource& source) {
      if (left == 0) return;
      if (chunk.size() > left) {
        const std::size_t cut = chunk.find(plan_.delimiter(), static_cast<std::size_t>(left) - 1);
        if (cut != std::string_view::npos) chunk = chunk.substr(0, cut + 1);
      }
      left -= std::min<std::uint64_t>(left, chunk.size());
      f(FileChunk{chunk, source});
    });
  }

 private:
  FilePlan& plan_;
};

static_assert(TaskSource<FileSource>);
static_assert(TaskSource<ItemSource<std::vector<int>>>);
static_assert(TaskSource<StridedSource<FileSource>>);
static_assert(TaskSource<OffsetSource<FileSource>>);

}  // namespace mapreduce::detail
