#pragma once
// The one path every job takes. Pool's entry points (map_reduce over files, items or a
// Dataset, map_reduce_dataset, map) and MpiPool all run their phases through a JobRunner:
// it holds the Pool's resolved settings, builds the task source for an input, runs the map
// and reduce phases, and keeps the job's statistics.
//
// MpiPool reaches it through Pool::runner(); that is an internal interface for extensions
// of this library, and may change between minor versions.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mapreduce/combiner.hpp"
#include "mapreduce/dataset.hpp"
#include "mapreduce/detail/file_plan.hpp"
#include "mapreduce/detail/items_work.hpp"
#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/detail/map_work.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/reduce_work.hpp"
#include "mapreduce/detail/sample_work.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/detail/task_source.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/input.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/pool_options.hpp"
#include "mapreduce/stats.hpp"

namespace mapreduce::detail {

// The partitions a job's reducers run, given its run sets: those that hold records, since a
// task costs a round trip to a worker even when it has nothing to do (most of a small job's
// partitions are empty; an empty part file is written when the job commits). Reads each run
// set's header (pread); the parent and a worker that takes over the reduce phase
// (reduce_handoff) find the same list from the same run sets.
std::vector<std::uint32_t> reduce_partitions(const std::vector<Published>& runs, unsigned partitions);

class JobRunner {
 public:
  using Clock = std::chrono::steady_clock;

  // Resolves every default of `options`; throws OptionsError when one is out of range.
  explicit JobRunner(const PoolOptions& options);

  [[nodiscard]] const PoolOptions& options() const noexcept { return options_; }
  [[nodiscard]] unsigned workers() const noexcept { return workers_; }
  [[nodiscard]] unsigned partitions() const noexcept { return partitions_; }
  [[nodiscard]] std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }
  [[nodiscard]] std::size_t shm_budget() const noexcept { return shm_budget_; }
  // Every rank of an MPI job must cut the keys into the same partitions.
  void set_partitions(unsigned partitions);
  // Items per task for `n` in-memory items.
  [[nodiscard]] std::size_t items_per_task(std::size_t n) const noexcept;
  // A map worker writes out what it holds once it holds this much.
  [[nodiscard]] std::size_t flush_bytes() const noexcept;
  // In a job without a combiner, the private memory of each worker: a map worker's buffer,
  // and a reducer's grouping of its partition. It is part of the budget: the workers' shares
  // come off what the job's segments may take.
  [[nodiscard]] std::size_t shuffle_memory() const noexcept;

  [[nodiscard]] JobStats& stats() noexcept { return stats_; }
  [[nodiscard]] const JobStats& stats() const noexcept { return stats_; }
  // The name of the next job (Pool::named); cleared when that job ends.
  void name_next(std::string name) { next_name_ = std::move(name); }
  // The next job's result in key order (Pool::sorted); cleared when that job ends.
  void sort_next() noexcept { next_sorted_ = true; }
  [[nodiscard]] bool sorted_next() const noexcept { return next_sorted_; }
  // Forgets what named() and sorted() said of the next job.
  void clear_next() noexcept {
    next_name_.clear();
    next_sorted_ = false;
  }

  // The span of one job: its statistics start empty, and its name is cleared at the end,
  // whether it succeeds or throws. A limit on open descriptors that the job raised is put
  // back at its end.
  class Job {
   public:
    explicit Job(JobRunner& runner)
        : gate_("a job", runner.options_.host_threads_fork_safe), runner_(runner), start_(Clock::now()) {
      runner_.stats_ = JobStats{};
    }
    ~Job() { runner_.clear_next(); }
    Job(const Job&) = delete;
    Job& operator=(const Job&) = delete;
    [[nodiscard]] Clock::time_point start() const noexcept { return start_; }

   private:
    ForkGate gate_;  // first: a job that may not start changes nothing
    JobRunner& runner_;
    Clock::time_point start_;
    DescriptorLimitScope descriptors_;
  };

  // The partitions of a job without a combiner, when the options leave them to the engine
  // (0: keep the Pool's). Over `input_bytes` of files, about one per MiB of input, and
  // enough that a partition's grouping fits in shuffle_memory() (a record per 4 bytes of
  // input, at up to 32 bytes each), so reducers group in the cache and in one pass. Over
  // items (`items`), whose size is not known before they are mapped, 64 per worker up to
  // 256: an index over 256 MiB of text in 64 KiB documents took 4.2 s with 4 partitions
  // and 3.0 s with 64 (1 worker). A Dataset's partitions stay as they are: each one kept
  // holds a descriptor.
  [[nodiscard]] unsigned shuffle_partitions(std::uint64_t input_bytes, bool items = false) const noexcept;

  // The settings of one phase of the current job. In a job without a combiner (`combine`
  // false), the segments get the budget less the workers' shuffle_memory().
  [[nodiscard]] PhaseConfig phase(const char* name, std::size_t shm_in_use, bool combine = true) const;

  // Calls f(source) with the task source of `input`: files (through a FilePlan that lives
  // for the call), a Dataset of an earlier job, or a random-access range of items.
  template <class Input, class F>
  decltype(auto) with_source(const Input& input, F&& f) {
    if constexpr (std::is_same_v<Input, FileInput>) {
      FilePlan plan(input, chunk_bytes_, shm_budget_, options_.spill ? spill_dir_ : std::string());
      FileSource source(plan);
      stats_.input_bytes = plan.total_bytes();
      // A pipe buffered in shared memory holds part of the budget for the whole call.
      InputHeld held(*this, plan.buffered_bytes());
      return f(source);
    } else if constexpr (requires { input.segments(); }) {
      DatasetSource source(input);
      return f(source);
    } else {
      ItemSource<Input> source(input, items_per_task(static_cast<std::size_t>(std::ranges::size(input))));
      return f(source);
    }
  }

  // Map: every task of `source` through `mapper`, combined in each worker, written as runs.
  // `ranges`: a sorted job's partitions (null: partitions by hash).
  // `hand_on`: its workers wait there for the reduce phase instead of exiting.
  template <class K, class V, TaskSource Source, class Mapper, class Reducer>
  PhaseOutcome map_phase(Source& source, Mapper& mapper, Reducer& reducer, DenseKeys dense,
                         const KeyRanges<K>* ranges = nullptr, WorkerHandoff* hand_on = nullptr) {
    if constexpr (std::is_function_v<Reducer>) {
      auto* function = &reducer;  // a plain function: held, and type-erased, as a pointer
      return map_phase_of<K, V>(source, mapper, function, dense, ranges, hand_on);
    } else {
      return map_phase_of<K, V>(source, mapper, reducer, dense, ranges, hand_on);
    }
  }

  // A sorted job's key ranges: the mapper over a sample of `source`, in workers (sample_work.hpp).
  template <class K, class V, TaskSource Source, class Mapper>
  KeyRanges<K> sample_phase(Source& source, Mapper& mapper, bool distinct) {
    if constexpr (requires(std::size_t i) { source.for_each_sampled_input(i, i, 0, [](auto&&) {}); }) {
      const SamplePlan plan = SamplePlan::make(source.tasks(), stats_.input_bytes, workers_, partitions_);
      if (plan.tasks == 0 || partitions_ == 1) return KeyRanges<K>::from_sample({}, partitions_);
      SampleWork<K, V, Source, Mapper> work(source, mapper, plan, distinct);
      PhaseOutcome sampled = run_phase(plan.tasks, work, phase("sample", 0));
      stats_.forked_workers += sampled.workers;
      return ranges_from_samples<K>(sampled.published, partitions_, distinct);
    } else {
      throw OptionsError("a sorted job needs files, items or a Dataset as its input");
    }
  }

  // Reduce: the partitions listed (all when null), each from every run set in `runs`.
  // `take_over`: starts with the map workers waiting there (reduce_handoff).
  template <class K, class V, class Reducer>
  PhaseOutcome reduce_phase(const std::vector<Published>& runs, Reducer& reducer,
                            const std::vector<std::uint32_t>* partitions, std::size_t shm_in_use,
                            ReduceTarget output = {}, WorkerHandoff* take_over = nullptr) {
    if constexpr (std::is_function_v<Reducer>) {
      auto* function = &reducer;
      return reduce_phase_of<K, V>(runs, function, partitions, shm_in_use, output, take_over);
    } else {
      return reduce_phase_of<K, V>(runs, reducer, partitions, shm_in_use, output, take_over);
    }
  }

  // Where the map workers of a job wait for its reduce phase, which each then builds for
  // itself, as reduce_phase would (one fork per worker per job): over the partitions that
  // hold records (reduce_partitions), found from the run sets it was sent.
  template <class K, class V, class Reducer>
  std::unique_ptr<WorkerHandoff> reduce_handoff(Reducer& reducer, ReduceTarget output) {
    const std::size_t group_memory = shuffle_memory();
    const unsigned partitions = partitions_;
    if constexpr (std::is_function_v<Reducer>) {
      // The ReduceWork keeps a reference to the pointer: it lives in the lambda, in the handoff.
      return std::make_unique<WorkerHandoff>(
          workers_, "reduce", [function = &reducer, group_memory, output, partitions](const auto& runs) mutable {
            using Work = ReduceWork<K, V, Reducer*, reduce_output_t<K, V, Reducer*>>;
            return std::unique_ptr<PhaseWork>(
                std::make_unique<Work>(runs, function, reduce_partitions(runs, partitions), group_memory, output));
          });
    } else {
      using R = std::remove_reference_t<Reducer>;
      return std::make_unique<WorkerHandoff>(
          workers_, "reduce", [&reducer, group_memory, output, partitions](const auto& runs) {
            using Work = ReduceWork<K, V, R, reduce_output_t<K, V, Reducer>>;
            return std::unique_ptr<PhaseWork>(
                std::make_unique<Work>(runs, reducer, reduce_partitions(runs, partitions), group_memory, output));
          });
    }
  }

  // A whole job on one machine: (for a sorted job, a sample of the keys,) map, reduce, then
  // `finish(reduced)` makes the result (a gather into the parent, a Dataset left in shared
  // memory, or part files put in place). With `files`, reducers write there.
  // `gathered`: finish reads the result once with gather_pairs (small partitions may come in messages).
  template <class K, class V, class Input, class Mapper, class Reducer, class Finish>
  auto run(const Input& input, Mapper& mapper, Reducer& reducer, DenseKeys dense, Finish&& finish,
           const PartFileTarget* files = nullptr, bool gathered = false) {
    Job job(*this);
    const bool sorted = next_sorted_;
    return with_source(input, [&](auto& source) {
      stats_.map_tasks = source.tasks();
      using R = std::conditional_t<std::is_function_v<Reducer>, Reducer*, std::remove_reference_t<Reducer>>;
      constexpr bool over_items = !std::is_same_v<Input, FileInput> && !requires { input.segments(); };
      PartitionsForJob partitions(*this,
                                  is_combine<R, K, V>() ? 0 : shuffle_partitions(stats_.input_bytes, over_items));
      KeyRanges<K> ranges;
      if (sorted) {
        const auto sample_at = Clock::now();
        ranges = sample_phase<K, V>(source, mapper, is_combine<R, K, V>());
        stats_.sample_seconds = seconds(sample_at, Clock::now());
      }
      const ReduceTarget target{sorted, files, gathered};
      // None for a job with no task: its control block and signal disposition would be its
      // whole cost (an empty job forks nothing).
      std::unique_ptr<WorkerHandoff> handoff = source.tasks() != 0 ? reduce_handoff<K, V>(reducer, target) : nullptr;
      const auto map_at = Clock::now();
      PhaseOutcome mapped = map_phase<K, V>(source, mapper, reducer, dense, sorted ? &ranges : nullptr, handoff.get());
      const auto reduce_at = Clock::now();
      const std::vector<std::uint32_t> reduced_partitions = reduce_partitions(mapped.published, partitions_);
      PhaseOutcome reduced = reduce_phase<K, V>(mapped.published, reducer, &reduced_partitions, mapped.shm_bytes,
                                                target, handoff.get());
      handoff.reset();  // workers the reduce phase had no task for end now, not after the gather
      auto finish_at = Clock::now();
      auto result = finish(reduced);
      const auto end = Clock::now();
      std::size_t keys = 0;
      if constexpr (requires { result.segments(); }) {
        finish_at = end;  // a Dataset is not gathered: its pairs stay where they are, uncounted
      } else if constexpr (requires { result.pairs; }) {
        keys = result.pairs;  // written by the reducers: nothing gathered
      } else {
        keys = result.size();
      }
      record_stats(mapped, reduced, keys, {job.start(), map_at, reduce_at, finish_at, end});
      return result;
    });
  }

  // Pool::map: f(item) for every item, the results in input order.
  template <class R, class Items, class F>
  std::vector<R> map_items(const Items& items, F& f) {
    Job job(*this);
    const auto n = static_cast<std::size_t>(std::ranges::size(items));
    ItemSource<Items> source(items, items_per_task(n));
    stats_.map_tasks = source.tasks();
    ItemsMapWork<Items, F, R> work(source, f, flush_bytes());
    const auto map_at = Clock::now();
    PhaseOutcome out = run_phase(source.tasks(), work, phase("map", 0));
    const auto gather_at = Clock::now();
    std::vector<R> result = gather_items<R>(out.published, source.tasks(), n);
    const auto end = Clock::now();
    stats_.records = out.records;
    stats_.shared_bytes = out.shm_bytes;
    stats_.spilled_bytes = out.spilled_bytes;
    stats_.retries = out.retries;
    stats_.memory_failures = out.memory_failures;
    stats_.map_workers = out.workers;
    stats_.forked_workers = out.workers;
    stats_.map_seconds = seconds(map_at, gather_at);
    stats_.gather_seconds = seconds(gather_at, end);
    stats_.total_seconds = seconds(job.start(), end);
    return result;
  }

  struct PhaseTimes {
    Clock::time_point start, map, reduce, gather, end;
  };
  void record_stats(const PhaseOutcome& mapped, const PhaseOutcome& reduced, std::size_t keys, const PhaseTimes& t);

 private:
  // The shared memory an input holds (a buffered pipe), counted by the phases while it lives.
  class InputHeld {
   public:
    InputHeld(JobRunner& runner, std::uint64_t bytes) noexcept : runner_(runner) {
      runner_.input_shm_ = static_cast<std::size_t>(bytes);
    }
    ~InputHeld() { runner_.input_shm_ = 0; }
    InputHeld(const InputHeld&) = delete;
    InputHeld& operator=(const InputHeld&) = delete;

   private:
    JobRunner& runner_;
  };

  // Sets the partitions for one job (none when 0), and puts the Pool's back at its end.
  class PartitionsForJob {
   public:
    PartitionsForJob(JobRunner& runner, unsigned partitions) : runner_(runner), saved_(runner.partitions_) {
      if (partitions != 0) runner_.partitions_ = partitions;
    }
    ~PartitionsForJob() { runner_.partitions_ = saved_; }
    PartitionsForJob(const PartitionsForJob&) = delete;
    PartitionsForJob& operator=(const PartitionsForJob&) = delete;

   private:
    JobRunner& runner_;
    unsigned saved_;
  };

  template <class K, class V, class Source, class Mapper, class Reducer>
  PhaseOutcome map_phase_of(Source& source, Mapper& mapper, Reducer& reducer, DenseKeys dense,
                            const KeyRanges<K>* ranges, WorkerHandoff* hand_on) {
    using R = std::remove_reference_t<Reducer>;  // const when the caller passed a const reducer
    using Out = reduce_output_t<K, V, Reducer>;
    static_assert(is_reducer<R, K, V>(),
                  "map_reduce: the reducer must be V(const V&, const V&) or Out(key_view, std::span<const V>)");
    static_assert(Encodable<Out>, "map_reduce: the reducer's result type needs a mapreduce::Codec (see codec.hpp)");
    typename MapBuffer<K, V>::CombineFn combine_fn = nullptr;
    if constexpr (is_combine<R, K, V>()) {
      combine_fn = [](const void* ctx, const V& a, const V& b) -> V {
        return (*static_cast<R*>(const_cast<void*>(ctx)))(a, b);
      };
    }
    constexpr bool sum = std::is_same_v<std::decay_t<R>, std::plus<>> || std::is_same_v<std::decay_t<R>, std::plus<V>>;
    MapBuffer<K, V> buffer(partitions_, combine_fn, static_cast<const void*>(&reducer), sum, shuffle_memory());
    if (ranges != nullptr) buffer.use_key_ranges(ranges);
    if (dense.count != 0) {
      if constexpr (std::is_integral_v<K> && is_combine<R, K, V>()) {
        buffer.use_dense_keys(dense.count);
      } else {
        throw OptionsError("DenseKeys needs integer keys and a combine operation");
      }
    }
    constexpr bool combine = is_combine<R, K, V>();
    MapWork<K, V, Source, Mapper> work(source, mapper, buffer, combine ? flush_bytes() : shuffle_memory());
    PhaseConfig config = phase("map", input_shm_, combine);
    config.hand_on = hand_on;
    return run_phase(source.tasks(), work, config);
  }

  template <class K, class V, class Reducer>
  PhaseOutcome reduce_phase_of(const std::vector<Published>& runs, Reducer& reducer,
                               const std::vector<std::uint32_t>* partitions, std::size_t shm_in_use,
                               ReduceTarget output, WorkerHandoff* take_over) {
    using R = std::remove_reference_t<Reducer>;
    using Out = reduce_output_t<K, V, Reducer>;
    ReduceWork<K, V, R, Out> work(runs, reducer, partitions, shuffle_memory(), output);
    const std::size_t tasks = runs.empty() ? 0 : partitions != nullptr ? partitions->size() : partitions_;
    PhaseConfig config = phase("reduce", shm_in_use + input_shm_, is_combine<R, K, V>());
    config.take_over = take_over;
    return run_phase(tasks, work, config);
  }

  static double seconds(Clock::time_point a, Clock::time_point b) noexcept {
    return std::chrono::duration<double>(b - a).count();
  }

  PoolOptions options_;
  unsigned workers_;
  unsigned partitions_;
  std::size_t chunk_bytes_;
  std::size_t shm_budget_;
  std::size_t items_per_task_;
  std::string spill_dir_;
  std::string next_name_;
  bool next_sorted_ = false;
  std::size_t input_shm_ = 0;  // InputHeld
  JobStats stats_;
};

// Clears what named() and sorted() said of the next job when a call that was to run it
// ends, also when it throws before the job starts.
class NextJobOptions {
 public:
  explicit NextJobOptions(JobRunner& runner) noexcept : runner_(runner) {}
  ~NextJobOptions() { runner_.clear_next(); }
  NextJobOptions(const NextJobOptions&) = delete;
  NextJobOptions& operator=(const NextJobOptions&) = delete;

 private:
  JobRunner& runner_;
};

}  // namespace mapreduce::detail
