#pragma once
// How a Pool runs its jobs.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "mapreduce/progress.hpp"
#include "mapreduce/task.hpp"
#include "mapreduce/worker_output.hpp"

namespace mapreduce {

/// How a Pool runs its jobs. A zero picks the default named beside each field.
struct PoolOptions {
  unsigned workers = 0;         ///< worker processes per phase; 0: the CPUs this process may use
  unsigned partitions = 0;      ///< reduce partitions; 0: 4 per worker, more without a combiner (docs/design.md)
  std::size_t chunk_bytes = 0;  ///< bytes of input per map task; 0: 1 MiB
  std::size_t shm_budget =
      0;  ///< memory a job's intermediate data may take at once; 0: half of the RAM or of the cgroup's limit
  std::size_t items_per_task = 0;  ///< items per task for in-memory inputs; 0: about 16 tasks per worker

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

  /// What each worker may allocate (heap and other private writable memory, RLIMIT_DATA)
  /// beyond what it shares with the parent at fork; 0: no cap. A task that needs more
  /// fails with "exceeded the worker memory limit of ...", costs an attempt, and runs again
  /// as max_attempts says; JobStats::memory_failures counts such attempts. Shared memory
  /// and mapped input files are not counted.
  std::size_t worker_memory = 0;
  /// Descriptors the workers keep open for user code. A worker closes every descriptor it
  /// inherited except standard input, output and error, the job's own, and these: a
  /// server's listening socket or a client connection never lives on in a worker.
  std::vector<int> keep_descriptors{};
  /// Forking a process with other threads is unsafe: a lock one of them held at the fork
  /// stays locked in the workers forever. A job in a multi-threaded process therefore fails
  /// at once (ThreadsError), unless it runs through a ForkServer (fork_server.hpp), or this
  /// is true: the caller vouches that the workers never need a lock another thread may hold.
  bool host_threads_fork_safe = false;
};

}  // namespace mapreduce
