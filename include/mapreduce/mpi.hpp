#pragma once
// The same map_reduce across machines, on MPI. Link mapreduce::mpi (built when CMake finds
// MPI); the core library never needs MPI.
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mapreduce/pool.hpp"

namespace mapreduce {

/// How the ranks of an MpiPool share a FileInput.
enum class MpiInputs {
  shared,    ///< every rank sees the same paths (a shared file system) and maps only its tasks
  per_rank,  ///< each rank passes its own local files and maps all of them
};

namespace detail {
// Sends send[d] to rank d and returns what each rank sent here, in pieces of at most 1 GiB
// (MPI counts are int). Collective over comm.
std::vector<std::vector<char>> mpi_exchange(MPI_Comm comm, std::vector<std::vector<char>> send);
// Gathers every rank's bytes on rank 0 (in rank order); other ranks get an empty vector.
std::vector<std::vector<char>> mpi_gather(MPI_Comm comm, const std::vector<char>& mine);
// Collective: rethrows, on every rank, the first failure of any rank (lowest rank first),
// so no rank waits forever in a later collective for a rank that gave up.
void mpi_agree(MPI_Comm comm, const std::exception_ptr& failure);
// What every rank must agree on before the map: the tasks it cut from the inputs.
struct JobShape {
  std::uint64_t tasks;
  std::uint64_t bytes;
};
// Collective: throws InputError on every rank if the ranks cut different tasks.
void mpi_check_same(MPI_Comm comm, const JobShape& shape);
// Collective: the largest `value` of all ranks.
unsigned mpi_max(MPI_Comm comm, unsigned value);
// Collective: the tasks of the ranks before this one (an exclusive prefix sum).
std::size_t mpi_tasks_before(MPI_Comm comm, std::size_t tasks);
// Prints the failure and aborts the MPI job (every rank), for failures not agreed on.
[[noreturn]] void mpi_abort(MPI_Comm comm, const std::exception_ptr& failure);
// The run sets a rank received, as local run-set segments the reduce phase reads in place.
std::vector<Published> runs_from_exchange(const std::vector<std::vector<char>>& received, std::uint32_t partitions);
// This rank's runs for each destination rank: partition p goes to rank p % ranks.
std::vector<std::vector<char>> runs_for_exchange(const std::vector<Published>& runs, int ranks);
// This rank's reduced partitions as blocks for rank 0 (mpi_format.hpp), and back, in
// partition order.
std::vector<char> reduced_for_gather(const std::vector<Published>& outputs);
std::vector<std::string_view> reduced_in_order(const std::vector<std::vector<char>>& gathered);
}  // namespace detail

/// A Pool on each rank of an MPI job, working as one: under `mpirun -np K` every rank runs
/// a local forked-worker Pool on its share of the map tasks, partitions go to their owner
/// rank (partition p to rank p % K), each rank reduces the partitions it owns, and rank 0
/// gathers the result, the same result, in the same order, as Pool::map_reduce gives on one
/// machine.
///
///     MPI_Init(&argc, &argv);
///     {
///       mapreduce::MpiPool pool({.workers = 8});
///       auto counts = pool.map_reduce<std::string, std::uint64_t>(input, mapper, std::plus<>{});
///       if (pool.rank() == 0) print(counts);
///     }
///     MPI_Finalize();
///
/// It runs its phases through its local Pool's job runner (Pool::runner()), as Pool does.
/// Every rank must call map_reduce with the same functions. A failure on any rank (a bad
/// input, a task out of attempts) is thrown on every rank, naming the rank. A rank that
/// dies ends the whole MPI job, as MPI does.
///
/// MPI libraries run threads of their own (Open MPI's progress and PMIx threads), so an
/// MpiPool forks with PoolOptions::host_threads_fork_safe set: the workers never call MPI,
/// and so never take a lock those threads hold. Threads of your own are yours to vouch for.
class MpiPool {
 public:
  /// Collective over `comm`, which it duplicates: its messages never meet yours. Destroy
  /// it before MPI_Finalize.
  explicit MpiPool(const PoolOptions& local = {}, MPI_Comm comm = MPI_COMM_WORLD) : pool_(with_mpi_threads(local)) {
    MPI_Comm_dup(comm, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &ranks_);
    // The default partition count follows each machine's CPUs; every rank must use one.
    pool_.runner().set_partitions(detail::mpi_max(comm_, pool_.partitions()));
  }

  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int ranks() const noexcept { return ranks_; }
  /// The local pool of this rank.
  [[nodiscard]] Pool& local() noexcept { return pool_; }
  /// What this rank did in the last job.
  [[nodiscard]] const JobStats& last_stats() const noexcept { return pool_.last_stats(); }

  /// Map-reduce over files across the ranks. The result is on rank 0; other ranks get an
  /// empty vector.
  template <Key K, Encodable V, class Mapper, class Reducer>
  std::vector<std::pair<K, reduce_output_t<K, V, Reducer>>> map_reduce(const FileInput& input, Mapper&& mapper,
                                                                       Reducer&& reducer,
                                                                       MpiInputs inputs = MpiInputs::shared) {
    using Out = reduce_output_t<K, V, Reducer>;
    using Clock = std::chrono::steady_clock;
    detail::JobRunner& runner = pool_.runner();
    // Sampled key ranges would have to be agreed between the ranks: not done yet. Said on
    // every rank alike, before anything is exchanged.
    if (runner.sorted_next()) {
      runner.clear_next();
      throw OptionsError("MpiPool does not run sorted jobs (Pool::sorted) yet: sort the result on rank 0");
    }
    const detail::JobRunner::Job job(runner);
    const auto start = job.start();
    bool agreed = false;  // the failure being thrown is known to every rank
    auto agree = [&](const std::exception_ptr& failure) {
      try {
        detail::mpi_agree(comm_, failure);
      } catch (...) {
        agreed = true;
        throw;
      }
    };
    try {
      // Split and map: each rank its share of the tasks; its runs cut by owner rank.
      std::exception_ptr failure;
      detail::PhaseOutcome mapped;
      std::vector<std::vector<char>> outgoing;
      Clock::time_point map_at = start;
      detail::JobShape shape{};
      try {
        if (inputs == MpiInputs::shared && ranks_ > 1) {
          for (const auto& p : input.paths) {
            if (p == "-") throw InputError("standard input (-) reaches rank 0 only: give the ranks files");
          }
        }
        detail::FilePlan plan(input, runner.chunk_bytes(), runner.shm_budget());
        detail::FileSource source(plan);
        runner.stats().input_bytes = plan.total_bytes();
        shape = {plan.tasks(), plan.total_bytes()};
        map_at = Clock::now();
        if (inputs == MpiInputs::shared) {
          // Every rank must have cut the very same tasks, or some would be lost or doubled.
          detail::mpi_check_same(comm_, shape);
          detail::StridedSource<detail::FileSource> share(source, static_cast<std::size_t>(rank_),
                                                          static_cast<std::size_t>(ranks_));
          runner.stats().map_tasks = share.tasks();
          mapped = runner.map_phase<K, V>(share, mapper, reducer, DenseKeys{});
        } else {
          // Task indices continue from the ranks before: values keep a job-wide task order.
          detail::OffsetSource<detail::FileSource> mine(source, detail::mpi_tasks_before(comm_, plan.tasks()));
          runner.stats().map_tasks = mine.tasks();
          mapped = runner.map_phase<K, V>(mine, mapper, reducer, DenseKeys{});
        }
        outgoing = detail::runs_for_exchange(mapped.published, ranks_);
        mapped.published.clear();  // the runs are in `outgoing` now
      } catch (...) {
        failure = std::current_exception();
      }
      agree(failure);

      // Shuffle: partition p to rank p % ranks, then reduce the partitions this rank owns.
      const auto reduce_at = Clock::now();
      std::uint64_t sent = 0;
      for (int d = 0; d < ranks_; ++d) sent += d == rank_ ? 0 : outgoing[static_cast<std::size_t>(d)].size();
      std::vector<detail::Published> received;
      {
        auto exchanged = detail::mpi_exchange(comm_, std::move(outgoing));
        try {
          received = detail::runs_from_exchange(exchanged, runner.partitions());
        } catch (...) {
          failure = std::current_exception();
        }
      }
      std::vector<std::uint32_t> owned;
      for (auto p = static_cast<std::uint32_t>(rank_); p < runner.partitions();
           p += static_cast<std::uint32_t>(ranks_)) {
        owned.push_back(p);
      }
      detail::PhaseOutcome reduced;
      std::vector<char> reduced_bytes;
      try {
        if (failure) std::rethrow_exception(failure);
        reduced = runner.reduce_phase<K, V>(received, reducer, &owned, 0);
        reduced_bytes = detail::reduced_for_gather(reduced.published);
      } catch (...) {
        failure = std::current_exception();
      }
      agree(failure);

      // Gather on rank 0, in partition order.
      const auto gather_at = Clock::now();
      const auto gathered = detail::mpi_gather(comm_, reduced_bytes);
      std::vector<std::pair<K, Out>> result;
      if (rank_ == 0) result = detail::decode_pairs<K, Out>(detail::reduced_in_order(gathered));
      runner.record_stats(mapped, reduced, result.size(), {start, map_at, reduce_at, gather_at, Clock::now()});
      runner.stats().sent_bytes = sent;
      return result;
    } catch (...) {
      // A failure the other ranks do not know of (an MPI error, memory exhausted in an
      // exchange) would leave them waiting in a collective: end the MPI job instead.
      if (!agreed) detail::mpi_abort(comm_, std::current_exception());
      throw;
    }
  }

  ~MpiPool() { MPI_Comm_free(&comm_); }
  MpiPool(const MpiPool&) = delete;
  MpiPool& operator=(const MpiPool&) = delete;

 private:
  static PoolOptions with_mpi_threads(PoolOptions options) {
    options.host_threads_fork_safe = true;
    return options;
  }
  Pool pool_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int ranks_ = 1;
};

}  // namespace mapreduce
