#pragma once
#include <cstddef>

namespace mapreduce {

/// Which task a worker is about to run: what PoolOptions::before_task receives.
struct TaskContext {
  const char* phase;  ///< "map" or "reduce"
  std::size_t task;   ///< the task's index in its phase
  unsigned attempt;   ///< 1 for the first run, 2 for the first retry...
};

}  // namespace mapreduce
