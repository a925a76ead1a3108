#pragma once
// One phase of a job (map, reduce, or a plain parallel map): a number of tasks run by a
// set of forked worker processes. The parent schedules tasks one at a time to whichever
// worker is idle, watches every worker, and collects the shared-memory segments they
// publish. The work itself is type-erased behind PhaseWork, so this plumbing (fork,
// sockets, poll, waitpid) is compiled once in src/ and never reaches user code.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mapreduce/detail/resource.hpp"

namespace mapreduce::detail {

class WorkerLink;

// What the workers of one phase do. Its methods run in a worker process.
class PhaseWork {
 public:
  virtual ~PhaseWork() = default;
  // Runs task `task`. May publish segments through `link`.
  virtual void run_task(std::size_t task, WorkerLink& link) = 0;
  // Runs once when no task is left for this worker: publish what is still held.
  virtual void finish(WorkerLink& link) = 0;
  // Names a task in an error message, e.g. "words.txt bytes 0-1048576". Runs in the parent.
  [[nodiscard]] virtual std::string describe_task(std::size_t task) const = 0;
};

// A segment a worker handed to the parent, with the tag the worker gave it.
struct Published {
  UniqueFd fd;
  std::uint64_t tag = 0;
  std::uint64_t bytes = 0;
};

struct PhaseConfig {
  const char* name = "map";        // for messages: "map", "reduce"
  unsigned workers = 1;            // at most this many processes (never more than tasks)
  std::size_t shm_budget = 0;      // bytes of shared memory the job may hold at once
  std::size_t shm_in_use = 0;      // already held by earlier phases of the job
};

struct PhaseOutcome {
  std::vector<Published> published;
  std::uint64_t records = 0;      // what workers counted through WorkerLink::add_records
  std::size_t shm_bytes = 0;      // bytes of the segments published in this phase
  unsigned workers = 0;           // processes forked
};

// Runs `tasks` tasks of `work` and returns what the workers published.
// Throws JobError when a task throws or a worker dies; every worker is reaped first.
PhaseOutcome run_phase(std::size_t tasks, PhaseWork& work, const PhaseConfig& config);

// The worker's end of its channel to the parent.
class WorkerLink {
 public:
  explicit WorkerLink(int socket) noexcept : socket_(socket) {}
  // Asks the parent for `bytes` of the job's shared-memory budget; throws JobError if
  // the budget cannot cover them.
  void reserve(std::size_t bytes);
  // Hands the segment to the parent (the descriptor travels over the socket).
  void publish(const SharedSegment& segment, std::uint64_t tag);
  void add_records(std::uint64_t n) noexcept { records_ += n; }
  std::uint64_t take_records() noexcept {
    const auto n = records_;
    records_ = 0;
    return n;
  }

 private:
  int socket_;
  std::uint64_t records_ = 0;
};

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned available_cpus() noexcept;

// The default shared-memory budget: half of the physical memory.
std::size_t default_shm_budget() noexcept;

}  // namespace mapreduce::detail
