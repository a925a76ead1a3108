#pragma once
// One phase of a job (map, reduce, or a plain parallel map): a number of tasks run by a
// set of forked worker processes. The parent schedules tasks one at a time to whichever
// worker is idle, watches every worker, collects the segments they publish, and replaces a
// worker that dies, running its lost tasks again. The work itself is type-erased behind
// PhaseWork, so this plumbing (fork, sockets, poll, waitpid) is compiled once in src/ and
// never reaches user code.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mapreduce/detail/resource.hpp"
#include "mapreduce/progress.hpp"
#include "mapreduce/task.hpp"
#include "mapreduce/worker_output.hpp"

namespace mapreduce::detail {

class WorkerLink;

// What the workers of one phase do. run_task and finish run in a worker process.
class PhaseWork {
 public:
  virtual ~PhaseWork() = default;
  // Runs task `task`. May publish segments through `link`; a published segment holds the
  // output of this task and of every task the worker ran since its last publish.
  virtual void run_task(std::size_t task, WorkerLink& link) = 0;
  // Runs once when no task is left for this worker: publish what is still held.
  virtual void finish(WorkerLink& link) = 0;
  // Names a task in an error message, e.g. "words.txt bytes 0-1048576". Runs in the parent.
  [[nodiscard]] virtual std::string describe_task(std::size_t task) const = 0;
  // Runs in the parent when a worker died by a signal while running `task`: throws an
  // InputError if the task's input explains it (a mapped file that shrank raises SIGBUS).
  virtual void diagnose_crash(std::size_t /*task*/) const {}
  // The input bytes a task reads, for progress reports (0 when not known).
  [[nodiscard]] virtual std::uint64_t task_bytes(std::size_t /*task*/) const { return 0; }
  // Adds the descriptors that the workers read and the parent opened before forking them
  // (input files, run sets of an earlier phase): a worker closes every other one.
  virtual void descriptors(std::vector<int>& /*keep*/) const {}
};

// A segment a worker handed to the parent, with the tag the worker gave it.
struct Published {
  UniqueFd fd;
  std::uint64_t tag = 0;
  std::uint64_t bytes = 0;
  bool spilled = false;  // a file in the spill directory rather than shared memory
};

// A task's result that travelled inside a message instead of a segment (a few KiB at most):
// what imap's one-task results usually are, saving a segment and a round trip each.
struct SmallResult {
  std::uint64_t tag = 0;
  std::string data;
};

// Held for a whole job (JobRunner::Job) and for each phase: only one thread of a process
// runs jobs at a time, and none runs in a process with other threads unless the caller
// vouched for them (`host_threads_fork_safe`): a child of fork() has only the forking
// thread, and a lock another thread held stays locked in it for good. Checked before any
// fork, so a job that cannot start throws ThreadsError at once instead of hanging in its
// workers. The same thread may hold it more than once (a job inside an imap loop).
class ForkGate {
 public:
  // `what` names what could not start in the error: "a job", "the map phase".
  ForkGate(const char* what, bool host_threads_fork_safe);
  ~ForkGate();
  ForkGate(const ForkGate&) = delete;
  ForkGate& operator=(const ForkGate&) = delete;
};

// The descriptors of objects that outlive a job and that user code may read in a later
// job's workers (a Dataset's segments): every worker keeps them open. Registered while
// the object lives; movable with it.
class SharedDescriptors {
 public:
  SharedDescriptors() noexcept = default;
  explicit SharedDescriptors(std::vector<int> fds);
  SharedDescriptors(SharedDescriptors&& o) noexcept : fds_(std::exchange(o.fds_, {})) {}
  SharedDescriptors& operator=(SharedDescriptors&& o) noexcept;
  ~SharedDescriptors();
  SharedDescriptors(const SharedDescriptors&) = delete;
  SharedDescriptors& operator=(const SharedDescriptors&) = delete;

  // Every registered descriptor, added to `keep`.
  static void all(std::vector<int>& keep);

 private:
  void unregister() noexcept;
  std::vector<int> fds_;
};

class WorkerHandoff;

struct PhaseConfig {
  const char* name = "map";           // for messages: "map", "reduce"
  std::string job;                    // the job's name, when it has one: messages start with it
  unsigned workers = 1;               // at most this many processes at once (never more than tasks)
  std::size_t shm_budget = 0;         // bytes of shared memory the job may hold at once
  std::size_t shm_in_use = 0;         // already held by earlier phases of the job
  std::string spill_dir;              // where runs go once the budget is spent; empty: no spilling
  unsigned max_attempts = 4;          // runs of one task before the job fails
  bool retry_exceptions = false;      // an exception from user code counts as a failed attempt
  unsigned max_tasks_per_worker = 0;  // replace a worker after this many tasks; 0: never
  double task_timeout = 0;            // seconds; a task running longer is killed; 0: no limit
  const std::function<void(const TaskContext&)>* before_task = nullptr;  // fault injection
  const std::function<void(const Progress&)>* progress = nullptr;        // called in the parent
  WorkerOutput output = WorkerOutput::lines;                             // the workers' stdout and stderr
  const std::vector<int>* keep_descriptors = nullptr;                    // the user's, left open in workers
  std::size_t worker_memory = 0;        // bytes each worker may allocate past what it shares; 0: no cap
  bool host_threads_fork_safe = false;  // the caller vouches for its other threads (PoolOptions)
  // Results as they come (Pool::imap): at most `window` tasks are started and not yet
  // released() by the caller; `ordered`: counted from the first task not released, so the
  // next result in input order is always among them. 0: no limit.
  std::size_t window = 0;
  bool ordered = false;
  // One fork per job. With `hand_on`, a worker that finished this phase cleanly waits in
  // it for the next phase instead of exiting; a phase with `take_over` set to the same
  // handoff starts with those workers and forks only replacements.
  WorkerHandoff* hand_on = nullptr;
  WorkerHandoff* take_over = nullptr;
};

struct PhaseOutcome {
  std::vector<Published> published;
  std::vector<SmallResult> small;  // what workers sent in messages (WorkerLink::publish_small)
  std::uint64_t records = 0;       // what workers counted through WorkerLink::add_records
  std::size_t shm_bytes = 0;       // bytes of the segments published in shared memory
  std::size_t spilled_bytes = 0;   // bytes of the segments published as spill files
  unsigned workers = 0;            // processes forked, replacements included
  unsigned taken_over = 0;         // workers of the previous phase that ran this one (WorkerHandoff)
  unsigned retries = 0;            // task attempts that failed and were run again
  unsigned memory_failures = 0;    // attempts that ended past the worker memory limit
};

// Runs `tasks` tasks of `work` and returns what the workers published.
// Throws JobError when a task fails for good, Interrupted when an InterruptGuard's signal
// arrives; every worker is killed and reaped first.
PhaseOutcome run_phase(std::size_t tasks, PhaseWork& work, const PhaseConfig& config);

class Scheduler;

// The workers of one phase, kept for the next phase of the same job (the map workers of a
// job go on to reduce): a fork, an exit and a page-table copy of the parent fewer per
// worker, which is most of a small job's cost. Lives across both phases: it holds their
// control block (a worker keeps its board), and while no phase runs, the workers waiting
// for the next one. Destroying it kills and reaps the workers still waiting in it.
//
// A worker that waits gets the next phase's inputs (its run sets) as descriptors over its
// socket, and builds the next phase's work itself with `make_next`: it was forked before
// that work existed. That code runs in the worker; the parent builds its own copy, for the
// replacements it forks.
class WorkerHandoff {
 public:
  using MakeWork = std::function<std::unique_ptr<PhaseWork>(const std::vector<Published>& inputs)>;
  // `workers`: the most the phases run at once; `next`: the next phase's name ("reduce").
  WorkerHandoff(unsigned workers, const char* next, MakeWork make_next);
  ~WorkerHandoff();
  WorkerHandoff(const WorkerHandoff&) = delete;
  WorkerHandoff& operator=(const WorkerHandoff&) = delete;

  [[nodiscard]] const char* next_phase() const noexcept { return next_; }
  // In a worker: the next phase's work over the inputs it received.
  [[nodiscard]] std::unique_ptr<PhaseWork> make_next(const std::vector<Published>& inputs) const {
    return make_next_(inputs);
  }

 private:
  friend class Scheduler;
  struct State;
  std::unique_ptr<State> state_;
  const char* next_;
  MakeWork make_next_;
};

// A phase run a step at a time, for a caller that takes results while it runs (imap).
// Forks the workers at construction; destroying it kills and reaps any still running.
class PhaseRun {
 public:
  PhaseRun(std::size_t tasks, PhaseWork& work, const PhaseConfig& config);
  ~PhaseRun();
  PhaseRun(const PhaseRun&) = delete;
  PhaseRun& operator=(const PhaseRun&) = delete;

  // Waits for the workers once and handles what they sent; false once every worker has
  // ended (the phase is over). Throws as run_phase does.
  bool step();
  // The segments published since the last call.
  std::vector<Published> take_published();
  // The small results sent since the last call (WorkerLink::publish_small).
  std::vector<SmallResult> take_small();
  // The caller is done with `task`'s result of `shm_bytes` (and has closed it): its memory
  // no longer counts against the budget, and the window moves on.
  void release(std::size_t task, std::uint64_t shm_bytes);

 private:
  std::unique_ptr<Scheduler> scheduler_;
};

// The worker's end of its channel to the parent.
class WorkerLink {
 public:
  // The most bytes publish_small carries.
  static constexpr std::size_t max_small_bytes = 4000;

  explicit WorkerLink(int socket) noexcept : socket_(socket) {}
  // A new writable segment of `bytes`: shared memory while the job's budget lasts, then
  // a file in the spill directory. Throws JobError when neither can be had.
  SharedSegment create_segment(std::size_t bytes);
  // The same, made of `pieces` written one after another (SharedSegment::create_written):
  // for bytes that are already in this process's memory, so they are copied once, by the
  // kernel, into pages it makes as it copies.
  SharedSegment write_segment(std::size_t bytes, const std::vector<std::string_view>& pieces);
  // Hands the segment to the parent (the descriptor travels over the socket).
  void publish(const SharedSegment& segment, std::uint64_t tag);
  // Sends `data` to the parent in the message itself, when it fits (a few KiB): no segment.
  // The caller takes them from PhaseRun::take_small or PhaseOutcome::small. Like publish, it
  // tells the parent that what the worker ran so far is safe. False when too large: publish
  // a segment instead.
  bool publish_small(std::string_view data, std::uint64_t tag);
  void add_records(std::uint64_t n) noexcept { records_ += n; }
  std::uint64_t take_records() noexcept {
    const auto n = records_;
    records_ = 0;
    return n;
  }

 private:
  // Asks the parent for `bytes` of the budget: "" when granted in memory, else the spill
  // directory to write them to. Throws JobError when neither can be had.
  std::string reserve(std::size_t bytes);

  int socket_;
  std::uint64_t records_ = 0;
};

}  // namespace mapreduce::detail
