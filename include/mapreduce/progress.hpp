#pragma once
#include <cstddef>
#include <cstdint>

namespace mapreduce {

/// How far a job is: what PoolOptions::progress receives, in the parent, when a phase
/// starts and each time one of its tasks finishes.
///
///     PoolOptions options;
///     options.progress = [](const mapreduce::Progress& p) {
///       std::fprintf(stderr, "\r%s %zu/%zu", p.phase, p.tasks_done, p.tasks_total);
///     };
struct Progress {
  const char* phase;          ///< "map" or "reduce"
  std::size_t tasks_done;     ///< tasks of this phase finished so far
  std::size_t tasks_total;    ///< tasks of this phase
  std::uint64_t bytes_done;   ///< input bytes of the finished map tasks (0 for items)
  std::uint64_t bytes_total;  ///< input bytes of the phase (0 for items and reduce)
  double phase_seconds;       ///< since the phase started
};

}  // namespace mapreduce
