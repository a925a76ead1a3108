// The settings and statistics of the job runner. See detail/job_runner.hpp.
#include "mapreduce/detail/job_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce::detail {

namespace {
constexpr unsigned max_workers = 1024;
constexpr unsigned max_partitions = 1u << 16;
}  // namespace

JobRunner::JobRunner(const PoolOptions& options)
    : options_(options), workers_(options.workers != 0 ? options.workers : available_cpus()),
      partitions_(options.partitions != 0 ? options.partitions : 4 * workers_),
      chunk_bytes_(options.chunk_bytes != 0 ? options.chunk_bytes : std::size_t(1) << 20),
      shm_budget_(options.shm_budget != 0 ? options.shm_budget : default_shm_budget()),
      items_per_task_(options.items_per_task),
      spill_dir_(options.spill_dir.empty() ? default_spill_dir() : options.spill_dir) {
  if (workers_ > max_workers) {
    throw OptionsError(fmt::format("workers must be between 1 and {}, not {}", max_workers, workers_));
  }
  if (options.max_attempts == 0) throw OptionsError("max_attempts must be at least 1");
  if (!(options.task_timeout_seconds >= 0 && options.task_timeout_seconds <= 1e9)) {
    throw OptionsError("task_timeout_seconds must be between 0 (no limit) and 1e9");
  }
  set_partitions(partitions_);
}

void JobRunner::set_partitions(unsigned partitions) {
  if (partitions == 0 || partitions > max_partitions) {
    throw OptionsError(fmt::format("partitions must be between 1 and {}, not {}", max_partitions, partitions));
  }
  partitions_ = partitions;
}

std::size_t JobRunner::items_per_task(std::size_t n) const noexcept {
  if (items_per_task_ != 0) return items_per_task_;
  return std::max<std::size_t>(1, n / (std::size_t(workers_) * 16));
}

std::size_t JobRunner::flush_bytes() const noexcept {
  // A worker writes out what it holds once it passes its share of the budget (halved, as
  // writing it out needs as much again), so memory stays near the budget.
  return std::clamp<std::size_t>(shm_budget_ / (2 * std::size_t(workers_)), std::size_t(1) << 20, std::size_t(1) << 30);
}

std::size_t JobRunner::shuffle_memory() const noexcept {
  // A quarter of each worker's part of the budget: the rest holds the runs. Below 4 MiB a
  // buffer would flush too often; above 64 MiB nothing was faster (16 to 256 MiB measured
  // alike on 256 MiB of text), and every page more is one more fault and more memory.
  return std::clamp<std::size_t>(shm_budget_ / (4 * std::size_t(workers_)), std::size_t(4) << 20,
                                 std::size_t(64) << 20);
}

unsigned JobRunner::shuffle_partitions(std::uint64_t input_bytes, bool items) const noexcept {
  if (options_.partitions != 0) return 0;
  if (items) return std::max(partitions_, std::min(64 * workers_, 256u));
  if (input_bytes == 0) return 0;
  const std::uint64_t by_size = input_bytes >> 20;
  const std::uint64_t by_memory = input_bytes * 8 / shuffle_memory() + 1;
  return static_cast<unsigned>(std::clamp<std::uint64_t>(std::max(by_size, by_memory), partitions_, max_partitions));
}

PhaseConfig JobRunner::phase(const char* name, std::size_t shm_in_use, bool combine) const {
  PhaseConfig c;
  c.name = name;
  c.job = next_name_;
  c.workers = workers_;
  c.shm_budget = shm_budget_;
  if (!combine) {
    const std::size_t workers_share = std::size_t(workers_) * shuffle_memory();
    // A tiny budget would leave the segments nothing: they keep at least half of it.
    c.shm_budget = std::max(shm_budget_ / 2, shm_budget_ > workers_share ? shm_budget_ - workers_share : 0);
  }
  c.shm_in_use = shm_in_use;
  c.spill_dir = options_.spill ? spill_dir_ : std::string();
  c.max_attempts = options_.max_attempts;
  c.retry_exceptions = options_.retry_exceptions;
  c.max_tasks_per_worker = options_.max_tasks_per_worker;
  c.task_timeout = options_.task_timeout_seconds;
  c.before_task = &options_.before_task;
  c.progress = &options_.progress;
  c.output = options_.worker_output;
  c.keep_descriptors = &options_.keep_descriptors;
  c.worker_memory = options_.worker_memory;
  c.host_threads_fork_safe = options_.host_threads_fork_safe;
  return c;
}

void JobRunner::record_stats(const PhaseOutcome& mapped, const PhaseOutcome& reduced, std::size_t keys,
                             const PhaseTimes& t) {
  stats_.records = mapped.records;
  stats_.distinct_keys = keys;
  stats_.shared_bytes = mapped.shm_bytes + reduced.shm_bytes;
  stats_.spilled_bytes = mapped.spilled_bytes + reduced.spilled_bytes;
  stats_.retries = mapped.retries + reduced.retries;
  stats_.memory_failures = mapped.memory_failures + reduced.memory_failures;
  stats_.map_workers = mapped.workers;
  stats_.reduce_workers = reduced.workers + reduced.taken_over;
  stats_.forked_workers += mapped.workers + reduced.workers;               // after the sample's, for a sorted job
  stats_.split_seconds = seconds(t.start, t.map) - stats_.sample_seconds;  // the sample ran in between
  stats_.map_seconds = seconds(t.map, t.reduce);
  stats_.reduce_seconds = seconds(t.reduce, t.gather);
  stats_.gather_seconds = seconds(t.gather, t.end);
  stats_.total_seconds = seconds(t.start, t.end);
}

std::vector<std::uint32_t> reduce_partitions(const std::vector<Published>& runs, unsigned partitions) {
  std::vector<std::uint32_t> out;
  std::vector<char> has_records(partitions, 0);
  std::string header(run_set_header_bytes(partitions), '\0');
  for (const Published& r : runs) {
    std::size_t got = 0;
    while (got < header.size()) {
      const ssize_t n = ::pread(r.fd.get(), header.data() + got, header.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(fmt::format("cannot read a run set's header: {}", std::strerror(errno)));
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    mark_partitions_with_records(std::string_view(header.data(), got), partitions, has_records);
  }
  for (std::uint32_t p = 0; p < partitions; ++p) {
    if (has_records[p] != 0) out.push_back(p);
  }
  return out;
}

}  // namespace mapreduce::detail
