#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <ranges>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "mapreduce/codec.hpp"
#include "mapreduce/combiner.hpp"
#include "mapreduce/dataset.hpp"
#include "mapreduce/detail/file_plan.hpp"
#include "mapreduce/detail/jobs.hpp"
#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/input.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/progress.hpp"
#include "mapreduce/result_stream.hpp"
#include "mapreduce/stats.hpp"
#include "mapreduce/task.hpp"
#include "mapreduce/worker_output.hpp"

namespace mapreduce {

/// How a Pool runs its jobs. A zero picks the default named beside each field.
struct PoolOptions {
  unsigned workers = 0;             ///< worker processes per phase; 0: the CPUs this process may use
  unsigned partitions = 0;          ///< reduce partitions; 0: 4 per worker
  std::size_t chunk_bytes = 0;      ///< bytes of input per map task; 0: 1 MiB
  std::size_t shm_budget = 0;       ///< shared memory a job may hold at once; 0: half the RAM
  std::size_t items_per_task = 0;   ///< items per task for in-memory inputs; 0: about 16 tasks per worker

  /// Runs of one task before the job fails. A worker that dies (a signal, abort(), _exit,
  /// the OOM killer) costs one attempt: its task runs again in a fresh worker.
  unsigned max_attempts = 4;
  /// Whether an exception thrown by user code also costs an attempt and is retried. Off:
  /// exceptions are taken as deterministic, and the first one fails the job.
  bool retry_exceptions = false;
  /// Replace a worker after it has run this many tasks (for user code that leaks); 0: never.
  unsigned max_tasks_per_worker = 0;
  /// A task running longer than this many seconds is killed and costs an attempt; 0: no limit.
  double task_timeout_seconds = 0;
  /// Once shm_budget is spent, further runs go to unnamed files here (0600, O_TMPFILE) and
  /// are read from there in place. Empty: $TMPDIR, else /tmp.
  std::string spill_dir{};
  /// false: spending shm_budget fails the job instead of spilling.
  bool spill = true;
  /// Called in the worker before each task: a hook for tests that inject faults (kill the
  /// worker, throw) into chosen tasks. Empty (the default) costs one test per task.
  std::function<void(const TaskContext&)> before_task{};
  /// Called in the parent when a phase starts and each time one of its tasks finishes, for
  /// a progress display (see progress.hpp). Empty: no reports.
  std::function<void(const Progress&)> progress{};
  /// The workers' own stdout and stderr: passed on a whole line at a time (the default),
  /// with a "[map worker 2 task 17] " prefix, or inherited as is (see worker_output.hpp).
  WorkerOutput worker_output = WorkerOutput::lines;
};

namespace detail {
template <class K, class V, class R, bool Combine = is_combine<R, K, V>()>
struct ReduceOutput {
  using type = V;
};
template <class K, class V, class R>
struct ReduceOutput<K, V, R, false> {
  using type = std::decay_t<std::invoke_result_t<R&, typename KeyTraits<K>::view, std::span<const V>>>;
};
}  // namespace detail

/// The value type of a map_reduce result: V for a combine operation, else what the
/// per-key reducer returns.
template <class K, class V, class Reducer>
using reduce_output_t = typename detail::ReduceOutput<K, V, std::decay_t<Reducer>>::type;

/// The results of Pool::map_product: one per (row, column) pair, addressable by the pair.
template <class R>
class Grid {
 public:
  Grid(std::size_t rows, std::size_t cols, std::vector<R> cells)
      : rows_(rows), cols_(cols), cells_(std::move(cells)) {}
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  /// The result for xs[row] and ys[col].
  [[nodiscard]] const R& at(std::size_t row, std::size_t col) const {
    if (row >= rows_ || col >= cols_) {
      throw std::out_of_range(fmt::format("Grid::at({}, {}) of a {} x {} grid", row, col, rows_, cols_));
    }
    return cells_[row * cols_ + col];
  }
  /// All results, row by row.
  [[nodiscard]] const std::vector<R>& cells() const noexcept { return cells_; }

 private:
  std::size_t rows_, cols_;
  std::vector<R> cells_;
};

/// Runs map-reduce jobs with forked worker processes and a shared-memory shuffle.
///
/// Each job forks its workers when it starts, so mappers and reducers run in them as
/// written, with everything they capture: the workers see the parent's memory as it was
/// at that moment (copy-on-write), and nothing they do can corrupt the parent. A job:
///
///   1. split:  the parent checks the inputs and cuts them into tasks (reading no data);
///   2. map:    workers take tasks one at a time, run the mapper, and combine its pairs in
///              a private hash table; each writes its pairs, grouped by partition into
///              contiguous runs, into a shared-memory segment of its own;
///   3. reduce: workers take partitions one at a time and reduce each from every worker's
///              run in place (no copy), writing the reduced pairs to shared memory;
///   4. gather: the parent reads the reduced partitions into the result.
///
///     mapreduce::Pool pool({.workers = 4});
///     auto counts = pool.map_reduce<std::string, std::uint64_t>(
///         mapreduce::FileInput{{"book.txt"}},
///         [](std::string_view chunk, auto& emit) {
///           mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
///         },
///         std::plus<>{});
///     for (auto& [word, n] : mapreduce::top_n(std::move(counts), 10)) ...
///
/// The result's order depends only on its keys, never on the number of workers or
/// partitions; sort it with the helpers of result.hpp.
///
/// Call it from a thread that may fork: the workers run your code after fork(), where
/// only the calling thread exists. Run one job at a time per process: two jobs started at
/// once from different threads could each hand its workers the other's sockets.
class Pool {
 public:
  Pool() : Pool(PoolOptions{}) {}
  /// Throws OptionsError when an option is out of range.
  explicit Pool(const PoolOptions& options);

  [[nodiscard]] unsigned workers() const noexcept { return workers_; }
  [[nodiscard]] unsigned partitions() const noexcept { return partitions_; }
  [[nodiscard]] std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }
  [[nodiscard]] std::size_t shm_budget() const noexcept { return shm_budget_; }
  /// What the last job did, phase by phase.
  [[nodiscard]] const JobStats& last_stats() const noexcept { return stats_; }

  /// Map-reduce over files. `dense` says the keys are small integers (see DenseKeys).
  /// The mapper is called as `mapper(std::string_view chunk,
  /// Emitter<K, V>& emit)` with whole records; the reducer is a combine operation
  /// (`V(const V&, const V&)`, associative and commutative) or a per-key reducer
  /// (`Out(key_view, std::span<const V>)`, see combiner.hpp).
  /// Returns one (key, value) pair per distinct key.
  template <Key K, Encodable V, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const FileInput& input, Mapper&& mapper,
                                                                        Reducer&& reducer, DenseKeys dense = {}) {
    const auto start = std::chrono::steady_clock::now();
    stats_ = JobStats{};
    NameReset reset_name{next_name_};  // named() is for one job, failed or not
    detail::FilePlan plan(input, chunk_bytes_, shm_budget_);
    detail::FileSource source(plan);
    stats_.input_bytes = plan.total_bytes();
    return run_job<K, V>(source, mapper, reducer, dense, start);
  }

  /// Map-reduce over in-memory items (any random-access range: a vector, a span, an iota
  /// view). The mapper is called as `mapper(const Item& item, Emitter<K, V>& emit)`.
  template <Key K, Encodable V, std::ranges::random_access_range Items, class Mapper, class Reducer>
    requires std::ranges::sized_range<Items>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const Items& items, Mapper&& mapper,
                                                                        Reducer&& reducer, DenseKeys dense = {}) {
    const auto start = std::chrono::steady_clock::now();
    detail::ItemSource<Items> source(items, items_per_task(std::ranges::size(items)));
    stats_ = JobStats{};
    NameReset reset_name{next_name_};  // named() is for one job
    return run_job<K, V>(source, mapper, reducer, dense, start);
  }

  /// Map-reduce over a Dataset another job of this Pool left in shared memory: the mapper
  /// is called as `mapper(key_view, const V2& value, Emitter<K, V>& emit)` for each pair
  /// (or `mapper(std::pair{key, value}, emit)`), partition by partition, read in place.
  template <Key K, Encodable V, Key K2, Encodable V2, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const Dataset<K2, V2>& data, Mapper&& mapper,
                                                                        Reducer&& reducer, DenseKeys dense = {}) {
    const auto start = std::chrono::steady_clock::now();
    detail::DatasetSource<K2, V2> source(data);
    stats_ = JobStats{};
    NameReset reset_name{next_name_};  // named() is for one job
    return run_job<K, V>(source, mapper, reducer, dense, start);
  }

  /// Like map_reduce, but the result stays in shared memory as a Dataset, partitioned, for
  /// the next job to map (a chain of jobs without copying through the parent). Takes the
  /// same inputs as map_reduce: files, items, or another Dataset.
  template <Key K, Encodable V, class Input, class Mapper, class Reducer>
  Dataset<K, reduce_output_t<K, V, Reducer>> map_reduce_dataset(const Input& input, Mapper&& mapper,
                                                                Reducer&& reducer, DenseKeys dense = {}) {
    const auto start = std::chrono::steady_clock::now();
    stats_ = JobStats{};
    NameReset reset_name{next_name_};  // named() is for one job
    auto go = [&](auto& source) {
      const auto map_at = std::chrono::steady_clock::now();
      stats_.map_tasks = source.tasks();
      detail::PhaseOutcome mapped = map_phase<K, V>(source, mapper, reducer, dense);
      const auto reduce_at = std::chrono::steady_clock::now();
      detail::PhaseOutcome reduced = reduce_phase<K, V>(mapped.published, reducer, nullptr, mapped.shm_bytes);
      const auto end = std::chrono::steady_clock::now();
      Dataset<K, reduce_output_t<K, V, Reducer>> out(std::move(reduced.published));
      record_stats(mapped, reduced, 0, {start, map_at, reduce_at, end, end});
      return out;
    };
    if constexpr (std::is_same_v<Input, FileInput>) {
      detail::FilePlan plan(input, chunk_bytes_, shm_budget_);
      detail::FileSource source(plan);
      stats_.input_bytes = plan.total_bytes();
      return go(source);
    } else if constexpr (requires { input.segments(); }) {
      detail::DatasetSource source(input);
      return go(source);
    } else {
      detail::ItemSource<Input> source(input, items_per_task(std::ranges::size(input)));
      return go(source);
    }
  }

  /// Names the next job: its failures read "NAME: map task ...", so a chain of jobs says
  /// which step failed.
  ///
  ///     pool.named("count words").map_reduce<std::string, std::uint64_t>(...);
  Pool& named(std::string name) {
    next_name_ = std::move(name);
    return *this;
  }

  /// `f(x, y)` for every x of `xs` and y of `ys` (a cartesian map: every cohort with every
  /// product) as one job; the results addressable by the pair: grid.at(i, j) is
  /// f(xs[i], ys[j]).
  template <std::ranges::random_access_range Xs, std::ranges::random_access_range Ys, class F>
    requires std::ranges::sized_range<Xs> && std::ranges::sized_range<Ys>
  auto map_product(F&& f, const Xs& xs, const Ys& ys) {
    const std::size_t rows = std::ranges::size(xs);
    const std::size_t cols = std::ranges::size(ys);
    // Cell indices as a plain vector: std::views::iota does not compile with clang 14 over
    // libstdc++ 12, and the library must.
    std::vector<std::size_t> index(rows * cols);
    for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
    auto cells = map(
        [&](std::size_t i) {
          return f(std::ranges::begin(xs)[static_cast<std::ptrdiff_t>(i / cols)],
                   std::ranges::begin(ys)[static_cast<std::ptrdiff_t>(i % cols)]);
        },
        index);
    return Grid<typename decltype(cells)::value_type>(rows, cols, std::move(cells));
  }

  /// `f(item)` for every item, in worker processes; the results in input order, as
  /// Python's multiprocessing.Pool.map gives them. The result type needs a Codec.
  template <std::ranges::random_access_range Items, class F>
    requires std::ranges::sized_range<Items>
  auto map(F&& f, const Items& items) {
    using Item = std::ranges::range_reference_t<const Items>;
    using R = std::decay_t<std::invoke_result_t<F&, Item>>;
    static_assert(Encodable<R>, "Pool::map: the result type needs a mapreduce::Codec (see codec.hpp)");
    const auto start = std::chrono::steady_clock::now();
    const std::size_t n = std::ranges::size(items);
    detail::ItemSource<Items> source(items, items_per_task(n));
    stats_ = JobStats{};
    NameReset reset_name{next_name_};  // named() is for one job
    stats_.map_tasks = source.tasks();
    detail::ItemsMapWork<Items, std::remove_reference_t<F>, R> work(source, f, flush_bytes());
    const auto mapped_at = std::chrono::steady_clock::now();
    detail::PhaseOutcome out = detail::run_phase(source.tasks(), work, phase("map", 0));
    const auto gather_at = std::chrono::steady_clock::now();
    std::vector<R> result = detail::gather_items<R>(out.published, source.tasks(), n);
    const auto end = std::chrono::steady_clock::now();
    stats_.records = out.records;
    stats_.shared_bytes = out.shm_bytes;
    stats_.spilled_bytes = out.spilled_bytes;
    stats_.retries = out.retries;
    stats_.map_workers = out.workers;
    stats_.map_seconds = seconds(mapped_at, gather_at);
    stats_.gather_seconds = seconds(gather_at, end);
    stats_.total_seconds = seconds(start, end);
    return result;
  }

  /// `f(item)` for every item, as a lazy range that yields the results in input order
  /// while the job runs (Python's Pool.imap): a pipeline can write out each result as it
  /// comes and never hold them all. At most ImapOptions::max_pending results wait ahead of
  /// the reader. Items passed as an lvalue are read in place and must outlive the range;
  /// a temporary is moved into it. Read it before you start another job.
  ///
  ///     for (const auto& stats : pool.imap(measure, files, {.chunk = 4})) print(stats);
  template <class Items, class F>
    requires std::ranges::random_access_range<const std::remove_reference_t<Items>> &&
             std::ranges::sized_range<const std::remove_reference_t<Items>>
  auto imap(F&& f, Items&& items, ImapOptions options = {}) {
    return make_stream(std::forward<F>(f), std::forward<Items>(items), options, true);
  }

  /// As imap, but each result comes as soon as its task ends, whatever its input order:
  /// a slow item does not hold back the others.
  template <class Items, class F>
    requires std::ranges::random_access_range<const std::remove_reference_t<Items>> &&
             std::ranges::sized_range<const std::remove_reference_t<Items>>
  auto imap_unordered(F&& f, Items&& items, ImapOptions options = {}) {
    return make_stream(std::forward<F>(f), std::forward<Items>(items), options, false);
  }

 private:
  friend class MpiPool;

  template <class F, class Items>
  auto make_stream(F&& f, Items&& items, ImapOptions options, bool ordered) {
    using Fn = std::decay_t<F>;
    using Item = std::ranges::range_reference_t<const std::remove_cvref_t<Items>>;
    using R = std::decay_t<std::invoke_result_t<Fn&, Item>>;
    static_assert(Encodable<R>, "Pool::imap: the result type needs a mapreduce::Codec (see codec.hpp)");
    const std::size_t chunk = options.chunk != 0 ? options.chunk : 1;
    const std::size_t pending = options.max_pending != 0 ? options.max_pending : 4 * std::size_t(workers_) * chunk;
    const std::size_t window = std::max<std::size_t>(1, (pending + chunk - 1) / chunk);
    NameReset reset_name{next_name_};  // named() is for one job
    return ResultStream<R>(std::make_unique<detail::StreamState<R, Items, Fn>>(
        Fn(std::forward<F>(f)), std::forward<Items>(items), chunk, window,
        phase(options.phase.empty() ? "map" : options.phase.c_str(), 0), options_.before_task,
        options_.progress, ordered));
  }  // runs the same phases, with an exchange between them

  template <class K, class V, class Source, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> run_job(Source& source, Mapper& mapper, Reducer& reducer,
                                                                    DenseKeys dense,
                                                                    std::chrono::steady_clock::time_point start) {
    using Out = reduce_output_t<K, V, Reducer>;
    stats_.map_tasks = source.tasks();
    const auto map_at = std::chrono::steady_clock::now();
    stats_.split_seconds = seconds(start, map_at);
    detail::PhaseOutcome mapped = map_phase<K, V>(source, mapper, reducer, dense);
    const auto reduce_at = std::chrono::steady_clock::now();
    detail::PhaseOutcome reduced = reduce_phase<K, V>(mapped.published, reducer, nullptr, mapped.shm_bytes);
    const auto gather_at = std::chrono::steady_clock::now();
    auto result = detail::gather_pairs<K, Out>(reduced.published);
    const auto end = std::chrono::steady_clock::now();
    record_stats(mapped, reduced, result.size(), {start, map_at, reduce_at, gather_at, end});
    return result;
  }

  // Map: every task of `source` through `mapper`, combined in each worker, written as runs.
  template <class K, class V, class Source, class Mapper, class Reducer>
  detail::PhaseOutcome map_phase(Source& source, Mapper& mapper, Reducer& reducer, DenseKeys dense) {
    if constexpr (std::is_function_v<Reducer>) {
      auto* function = &reducer;  // a plain function: held, and type-erased, as a pointer
      return map_phase_of<K, V>(source, mapper, function, dense);
    } else {
      return map_phase_of<K, V>(source, mapper, reducer, dense);
    }
  }
  template <class K, class V, class Source, class Mapper, class Reducer>
  detail::PhaseOutcome map_phase_of(Source& source, Mapper& mapper, Reducer& reducer, DenseKeys dense) {
    using R = std::remove_reference_t<Reducer>;  // const when the caller passed a const reducer
    using Out = reduce_output_t<K, V, Reducer>;
    static_assert(detail::is_reducer<R, K, V>(),
                  "map_reduce: the reducer must be V(const V&, const V&) or Out(key_view, std::span<const V>)");
    static_assert(Encodable<Out>, "map_reduce: the reducer's result type needs a mapreduce::Codec (see codec.hpp)");
    typename detail::MapBuffer<K, V>::CombineFn combine_fn = nullptr;
    if constexpr (detail::is_combine<R, K, V>()) {
      combine_fn = [](const void* ctx, const V& a, const V& b) -> V {
        return (*static_cast<R*>(const_cast<void*>(ctx)))(a, b);
      };
    }
    constexpr bool sum = std::is_same_v<std::decay_t<R>, std::plus<>> || std::is_same_v<std::decay_t<R>, std::plus<V>>;
    detail::MapBuffer<K, V> buffer(partitions_, combine_fn, static_cast<const void*>(&reducer), sum);
    if (dense.count != 0) {
      if constexpr (std::is_integral_v<K> && detail::is_combine<R, K, V>()) {
        buffer.use_dense_keys(dense.count);
      } else {
        throw OptionsError("DenseKeys needs integer keys and a combine operation");
      }
    }
    detail::MapWork<K, V, Source, Mapper> map_work(source, mapper, buffer, flush_bytes());
    return detail::run_phase(source.tasks(), map_work, phase("map", 0));
  }

  // Reduce: the partitions listed (all when null), each from every run set in `runs`.
  template <class K, class V, class Reducer>
  detail::PhaseOutcome reduce_phase(const std::vector<detail::Published>& runs, Reducer& reducer,
                                    const std::vector<std::uint32_t>* partitions, std::size_t shm_in_use) {
    if constexpr (std::is_function_v<Reducer>) {
      auto* function = &reducer;
      return reduce_phase_of<K, V>(runs, function, partitions, shm_in_use);
    } else {
      return reduce_phase_of<K, V>(runs, reducer, partitions, shm_in_use);
    }
  }
  template <class K, class V, class Reducer>
  detail::PhaseOutcome reduce_phase_of(const std::vector<detail::Published>& runs, Reducer& reducer,
                                       const std::vector<std::uint32_t>* partitions, std::size_t shm_in_use) {
    using R = std::remove_reference_t<Reducer>;
    using Out = reduce_output_t<K, V, Reducer>;
    detail::ReduceWork<K, V, R, Out> reduce_work(runs, reducer, partitions);
    const std::size_t tasks = runs.empty() ? 0 : partitions != nullptr ? partitions->size() : partitions_;
    return detail::run_phase(tasks, reduce_work, phase("reduce", shm_in_use));
  }

  struct PhaseTimes {
    std::chrono::steady_clock::time_point start, map, reduce, gather, end;
  };
  void record_stats(const detail::PhaseOutcome& mapped, const detail::PhaseOutcome& reduced, std::size_t keys,
                    const PhaseTimes& t) {
    stats_.records = mapped.records;
    stats_.distinct_keys = keys;
    stats_.shared_bytes = mapped.shm_bytes + reduced.shm_bytes;
    stats_.spilled_bytes = mapped.spilled_bytes + reduced.spilled_bytes;
    stats_.retries = mapped.retries + reduced.retries;
    stats_.map_workers = mapped.workers;
    stats_.reduce_workers = reduced.workers;
    stats_.split_seconds = seconds(t.start, t.map);
    stats_.map_seconds = seconds(t.map, t.reduce);
    stats_.reduce_seconds = seconds(t.reduce, t.gather);
    stats_.gather_seconds = seconds(t.gather, t.end);
    stats_.total_seconds = seconds(t.start, t.end);
  }

  [[nodiscard]] detail::PhaseConfig phase(const char* name, std::size_t in_use) const {
    detail::PhaseConfig c;
    c.name = name;
    c.job = next_name_;
    c.workers = workers_;
    c.shm_budget = shm_budget_;
    c.shm_in_use = in_use;
    c.spill_dir = options_.spill ? spill_dir_ : std::string();
    c.max_attempts = options_.max_attempts;
    c.retry_exceptions = options_.retry_exceptions;
    c.max_tasks_per_worker = options_.max_tasks_per_worker;
    c.task_timeout = options_.task_timeout_seconds;
    c.before_task = &options_.before_task;
    c.progress = &options_.progress;
    c.output = options_.worker_output;
    return c;
  }
  [[nodiscard]] std::size_t items_per_task(std::size_t n) const noexcept;
  [[nodiscard]] std::size_t flush_bytes() const noexcept;
  static double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) noexcept {
    return std::chrono::duration<double>(b - a).count();
  }

  PoolOptions options_;
  unsigned workers_;
  unsigned partitions_;
  std::size_t chunk_bytes_;
  std::size_t shm_budget_;
  std::size_t items_per_task_;
  std::string spill_dir_;
  std::string next_name_;  // the name of the next job (named()); cleared when a job ends
  struct NameReset {
    std::string& name;
    ~NameReset() { name.clear(); }
  };
  JobStats stats_;
};

}  // namespace mapreduce
