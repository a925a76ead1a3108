// The control block. See control_block.hpp.
#include "control_block.hpp"

#include <boost/interprocess/anonymous_shared_memory.hpp>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>

#include <chrono>
#include <new>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

namespace bip = boost::interprocess;

struct ControlBlock::Region {
  bip::mapped_region region;
};

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ControlBlock::ControlBlock(std::size_t seats) : seats_(seats), taken_(new bool[seats]()) {
  try {
    // MAP_SHARED | MAP_ANONYMOUS: no name anywhere, gone with the last process that maps it.
    region_ = std::make_unique<Region>(Region{bip::anonymous_shared_memory(seats * sizeof(WorkerBoard))});
  } catch (const bip::interprocess_exception& e) {
    throw Error(fmt::format("cannot create the job's control block: {}", e.what()));
  }
  boards_ = static_cast<WorkerBoard*>(region_->region.get_address());
  for (std::size_t i = 0; i < seats; ++i) new (&boards_[i]) WorkerBoard();
}

ControlBlock::~ControlBlock() = default;  // the boards are trivially destructible atomics

std::size_t ControlBlock::take_seat() noexcept {
  for (std::size_t i = 0; i < seats_; ++i) {
    if (taken_[i]) continue;
    taken_[i] = true;
    WorkerBoard& b = boards_[i];
    b.task.store(0, std::memory_order_relaxed);
    b.attempt.store(0, std::memory_order_relaxed);
    b.pid.store(0, std::memory_order_relaxed);
    b.started_ns.store(0, std::memory_order_relaxed);
    b.heartbeat_ns.store(steady_ns(), std::memory_order_relaxed);
    b.tasks_done.store(0, std::memory_order_relaxed);
    b.records.store(0, std::memory_order_relaxed);
    return i;
  }
  return seats_;
}

void ControlBlock::free_seat(std::size_t seat) noexcept {
  if (seat < seats_) taken_[seat] = false;
}

void BoardWriter::task_started(std::uint64_t task, unsigned attempt) noexcept {
  if (board_ == nullptr) return;
  const std::int64_t now = steady_ns();
  board_->attempt.store(attempt, std::memory_order_relaxed);
  board_->started_ns.store(now, std::memory_order_relaxed);
  board_->heartbeat_ns.store(now, std::memory_order_relaxed);
  board_->task.store(task + 1, std::memory_order_release);  // last: the parent reads it first
}

void BoardWriter::task_ended(std::uint64_t records) noexcept {
  if (board_ == nullptr) return;
  board_->records.fetch_add(records, std::memory_order_relaxed);
  board_->tasks_done.fetch_add(1, std::memory_order_relaxed);
  board_->heartbeat_ns.store(steady_ns(), std::memory_order_relaxed);
  board_->task.store(0, std::memory_order_release);
}

}  // namespace mapreduce::detail
