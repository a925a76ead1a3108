#pragma once
#include "mapreduce/error.hpp"

namespace mapreduce {

/// While one exists, SIGINT and SIGTERM stop the running job instead of the process: the
/// job kills and reaps its workers, frees its shared memory, and throws Interrupted, so a
/// program can clean up and exit with 128 + the signal. The previous handlers come back
/// when it is destroyed. One at a time per process; not for use from several threads.
///
///     mapreduce::InterruptGuard guard;
///     try { result = pool.map_reduce<...>(...); }
///     catch (const mapreduce::Interrupted& e) { return 128 + e.signal(); }
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

namespace detail {
// The read end of the guard's self-pipe, readable once a signal has arrived; -1 when no
// guard is in force. The signal handler writes the signal number into it.
int interrupt_fd() noexcept;
// Throws Interrupted if a guarded signal has arrived (for blocking reads outside poll).
void throw_if_interrupted();
// The signal that arrived, forgotten once taken (the pipe drained), so a later job under
// the same guard starts clean.
int take_interrupt() noexcept;
}  // namespace detail

}  // namespace mapreduce
