#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/combiner.hpp"
#include "mapreduce/dataset.hpp"
#include "mapreduce/detail/job_runner.hpp"
#include "mapreduce/detail/part_file_writer.hpp"
#include "mapreduce/input.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/part_files.hpp"
#include "mapreduce/pool_options.hpp"
#include "mapreduce/result_stream.hpp"
#include "mapreduce/stats.hpp"

namespace mapreduce {

/// The results of Pool::map_product: one per (row, column) pair, addressable by the pair.
template <class R>
class Grid {
 public:
  Grid(std::size_t rows, std::size_t cols, std::vector<R> cells) : rows_(rows), cols_(cols), cells_(std::move(cells)) {}
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
/// The workers run your code after fork(), where only the calling thread exists, so a job
/// in a process with other threads throws ThreadsError before forking anything: run it
/// through a ForkServer (fork_server.hpp), or see PoolOptions::host_threads_fork_safe. A
/// job started on another thread while one runs throws ThreadsError too; read a job or an
/// imap stream to its end on the thread that started it (its workers die with that thread).
class Pool {
 public:
  Pool() : Pool(PoolOptions{}) {}
  /// Throws OptionsError when an option is out of range.
  explicit Pool(const PoolOptions& options) : runner_(options) {}

  [[nodiscard]] unsigned workers() const noexcept { return runner_.workers(); }
  [[nodiscard]] unsigned partitions() const noexcept { return runner_.partitions(); }
  [[nodiscard]] std::size_t chunk_bytes() const noexcept { return runner_.chunk_bytes(); }
  [[nodiscard]] std::size_t shm_budget() const noexcept { return runner_.shm_budget(); }
  /// What the last job did, phase by phase.
  [[nodiscard]] const JobStats& last_stats() const noexcept { return runner_.stats(); }

  /// Map-reduce over files. `dense` says the keys are small integers (see DenseKeys).
  /// The mapper is called as `mapper(std::string_view chunk,
  /// Emitter<K, V>& emit)` with whole records; the reducer is a combine operation
  /// (`V(const V&, const V&)`, associative and commutative) or a per-key reducer
  /// (`Out(key_view, std::span<const V>)`, see combiner.hpp).
  /// Returns one (key, value) pair per distinct key.
  template <Key K, Encodable V, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const FileInput& input, Mapper&& mapper,
                                                                       Reducer&& reducer, DenseKeys dense = {}) {
    return gather<K, V>(input, mapper, reducer, dense);
  }

  /// Map-reduce over in-memory items (any random-access range: a vector, a span, an iota
  /// view). The mapper is called as `mapper(const Item& item, Emitter<K, V>& emit)`.
  // clang-format 14 would join the requires-clause to the templated return type:
  // clang-format off
  template <Key K, Encodable V, std::ranges::random_access_range Items, class Mapper, class Reducer>
    requires std::ranges::sized_range<Items>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const Items& items, Mapper&& mapper,
                                                                       Reducer&& reducer, DenseKeys dense = {}) {
    return gather<K, V>(items, mapper, reducer, dense);
  }
  // clang-format on

  /// Map-reduce over a Dataset another job of this Pool left in shared memory: the mapper
  /// is called as `mapper(key_view, const V2& value, Emitter<K, V>& emit)` for each pair
  /// (or `mapper(std::pair{key, value}, emit)`), partition by partition, read in place.
  template <Key K, Encodable V, Key K2, Encodable V2, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const Dataset<K2, V2>& data, Mapper&& mapper,
                                                                       Reducer&& reducer, DenseKeys dense = {}) {
    return gather<K, V>(data, mapper, reducer, dense);
  }

  /// Like map_reduce, but the result stays in shared memory as a Dataset, partitioned, for
  /// the next job to map (a chain of jobs without copying through the parent). Takes the
  /// same inputs as map_reduce: files, items, or another Dataset.
  template <Key K, Encodable V, class Input, class Mapper, class Reducer>
  Dataset<K, reduce_output_t<K, V, Reducer>> map_reduce_dataset(const Input& input, Mapper&& mapper, Reducer&& reducer,
                                                                DenseKeys dense = {}) {
    return runner_.run<K, V>(input, mapper, reducer, dense, [](detail::PhaseOutcome& reduced) {
      return Dataset<K, reduce_output_t<K, V, Reducer>>(std::move(reduced.published));
    });
  }

  /// Like map_reduce, but the reducers write the result to files, one per partition
  /// (`part-00000`...), and the parent never holds it: for results larger than the parent
  /// should, and for other programs to read. The files appear only when the whole job has
  /// succeeded (see PartFiles). Takes the same inputs as map_reduce. With sorted(), the
  /// files concatenated in order are in key order.
  ///
  ///     auto written = pool.sorted().map_reduce_to_files<std::string, std::uint64_t>(
  ///         files, count_words, std::plus<>{}, {.directory = "counts"});
  ///     // counts/part-00000 ... as "word<TAB>count" lines, words in order across the files
  template <Key K, Encodable V, class Input, class Mapper, class Reducer>
  PartFilesWritten map_reduce_to_files(const Input& input, Mapper&& mapper, Reducer&& reducer, const PartFiles& files,
                                       DenseKeys dense = {}) {
    using Out = reduce_output_t<K, V, Reducer>;
    detail::NextJobOptions next(runner_);  // sorted() and named() end with this call, even if it throws here
    if (files.format == PartFormat::tsv &&
        !(detail::tsv_writable<typename KeyTraits<K>::view> && detail::tsv_writable<Out>)) {
      throw OptionsError("PartFormat::tsv needs an fmt::formatter for the key and the value: use PartFormat::binary");
    }
    detail::PartDirectory directory(files);
    return runner_.run<K, V>(
        input, mapper, reducer, dense,
        [&](detail::PhaseOutcome& reduced) { return directory.commit(runner_.partitions(), reduced.small); },
        &directory.target());
  }

  /// Puts the next job's result in key order (KeyTraits::less): map_reduce returns it
  /// sorted, a Dataset's partitions hold key ranges in order, and part files concatenated
  /// in order are sorted. The engine maps a sample of the input first (about 1/64 of a large
  /// one), cuts the partitions into key ranges of about equal size from the keys it saw,
  /// and each reducer sorts its range; the order is the same for any number of workers and
  /// partitions.
  ///
  ///     auto counts = pool.sorted().map_reduce<std::string, std::uint64_t>(files, count, std::plus<>{});
  Pool& sorted() noexcept {
    runner_.sort_next();
    return *this;
  }

  /// Names the next job: its failures read "NAME: map task ...", so a chain of jobs says
  /// which step failed.
  ///
  ///     pool.named("count words").map_reduce<std::string, std::uint64_t>(...);
  Pool& named(std::string name) {
    runner_.name_next(std::move(name));
    return *this;
  }

  /// Internal, for extensions of this library (MpiPool): the runner every job of this Pool
  /// goes through (detail/job_runner.hpp). Its interface may change between minor versions.
  [[nodiscard]] detail::JobRunner& runner() noexcept { return runner_; }

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
    return runner_.map_items<R>(items, f);
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
  template <class F, class Items>
  auto make_stream(F&& f, Items&& items, const ImapOptions& options, bool ordered) {
    using Fn = std::decay_t<F>;
    using Item = std::ranges::range_reference_t<const std::remove_cvref_t<Items>>;
    using R = std::decay_t<std::invoke_result_t<Fn&, Item>>;
    static_assert(Encodable<R>, "Pool::imap: the result type needs a mapreduce::Codec (see codec.hpp)");
    const std::size_t chunk = options.chunk != 0 ? options.chunk : 1;
    const std::size_t pending = options.max_pending != 0 ? options.max_pending
                                                         : 4 * std::size_t(runner_.workers()) * chunk;
    const std::size_t window = std::max<std::size_t>(1, (pending + chunk - 1) / chunk);
    const detail::PhaseConfig config = runner_.phase(options.phase.empty() ? "map" : options.phase.c_str(), 0);
    runner_.clear_next();  // named() and sorted() are for one job; a stream leaves last_stats() alone
    return ResultStream<R>(std::make_unique<detail::StreamState<R, Items, Fn>>(
        Fn(std::forward<F>(f)), std::forward<Items>(items), chunk, window, config, runner_.options().before_task,
        runner_.options().progress, ordered));
  }

  // map_reduce: the job, then the reduced partitions gathered into the parent.
  template <class K, class V, class Input, class Mapper, class Reducer>
  auto gather(const Input& input, Mapper& mapper, Reducer& reducer, DenseKeys dense) {
    return runner_.run<K, V>(
        input, mapper, reducer, dense,
        [](detail::PhaseOutcome& reduced) { return detail::gather_pairs<K, reduce_output_t<K, V, Reducer>>(reduced); },
        nullptr, true);
  }

  detail::JobRunner runner_;
};

}  // namespace mapreduce
