#pragma once
// The job's control block: one page of shared memory, made with Boost.Interprocess's
// anonymous_shared_memory before any worker is forked, so every worker of the phase (a
// replacement too) inherits it. Each worker seat has a board of lock-free atomics that its
// worker writes and the parent reads. Never a mutex here: a worker killed while holding one
// would wedge every other process that touched it.
//
// A board costs the worker two stores per task and no message: what it tells the parent
// (what a worker was doing, and for how long, when it died) is what a message per task
// could not, since a dying worker sends none.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mapreduce::detail {

struct alignas(64) WorkerBoard {              // a cache line each: workers never share one
  std::atomic<std::uint64_t> task{0};         // the task running now, + 1; 0 when none
  std::atomic<std::uint32_t> attempt{0};      // of that task
  std::atomic<std::uint32_t> pid{0};          // of the worker in this seat
  std::atomic<std::int64_t> started_ns{0};    // when that task started (steady clock)
  std::atomic<std::int64_t> heartbeat_ns{0};  // when the worker last reported in
  std::atomic<std::uint64_t> tasks_done{0};   // by this seat's current worker
  std::atomic<std::uint64_t> records{0};      // counted by this seat's current worker
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free,
              "the control block needs lock-free 64-bit atomics");

// The steady clock in nanoseconds: the same clock in the parent and its forked workers.
std::int64_t steady_ns() noexcept;

class ControlBlock {
 public:
  // Room for `seats` workers at once. Throws Error when the memory cannot be had.
  explicit ControlBlock(std::size_t seats);
  ~ControlBlock();
  ControlBlock(const ControlBlock&) = delete;
  ControlBlock& operator=(const ControlBlock&) = delete;

  [[nodiscard]] std::size_t seats() const noexcept { return seats_; }
  [[nodiscard]] WorkerBoard& board(std::size_t seat) const noexcept { return boards_[seat]; }
  // A free seat for a new worker, its board cleared; seats() when none is free.
  std::size_t take_seat() noexcept;
  void free_seat(std::size_t seat) noexcept;

 private:
  struct Region;
  std::unique_ptr<Region> region_;
  WorkerBoard* boards_ = nullptr;
  std::size_t seats_ = 0;
  std::unique_ptr<bool[]> taken_;
};

// The worker's side: what it writes on its board.
class BoardWriter {
 public:
  explicit BoardWriter(WorkerBoard* board) noexcept : board_(board) {}
  void task_started(std::uint64_t task, unsigned attempt) noexcept;
  void task_ended(std::uint64_t records) noexcept;

 private:
  WorkerBoard* board_;  // null: no board (never in practice; the writer then does nothing)
};

}  // namespace mapreduce::detail
