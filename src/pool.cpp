#include "mapreduce/pool.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce {

namespace {
constexpr unsigned max_workers = 1024;
constexpr unsigned max_partitions = 1u << 16;
}  // namespace

Pool::Pool(const PoolOptions& options)
    : workers_(options.workers != 0 ? options.workers : detail::available_cpus()),
      partitions_(options.partitions != 0 ? options.partitions : 4 * workers_),
      chunk_bytes_(options.chunk_bytes != 0 ? options.chunk_bytes : std::size_t(1) << 20),
      shm_budget_(options.shm_budget != 0 ? options.shm_budget : detail::default_shm_budget()),
      items_per_task_(options.items_per_task) {
  if (workers_ > max_workers) {
    throw OptionsError(fmt::format("workers must be between 1 and {}, not {}", max_workers, workers_));
  }
  if (partitions_ > max_partitions) {
    throw OptionsError(fmt::format("partitions must be between 1 and {}, not {}", max_partitions, partitions_));
  }
}

std::size_t Pool::items_per_task(std::size_t n) const noexcept {
  if (items_per_task_ != 0) return items_per_task_;
  return std::max<std::size_t>(1, n / (std::size_t(workers_) * 16));
}

std::size_t Pool::flush_bytes() const noexcept {
  // A worker writes out what it holds once it passes its share of the budget (halved, as
  // writing it out needs as much again), so memory stays near the budget.
  return std::clamp<std::size_t>(shm_budget_ / (2 * std::size_t(workers_)), std::size_t(1) << 20,
                                 std::size_t(1) << 30);
}

}  // namespace mapreduce
