#pragma once
// Forking one worker: its channel to the parent, its output pipes, and what the child keeps.
#include <signal.h>

#include <functional>
#include <vector>

#include "child_process.hpp"
#include "mapreduce/detail/resource.hpp"

namespace mapreduce::detail {

struct ForkedWorker {
  ChildProcess process;
  UniqueFd socket;     // the parent's end of the worker's channel
  UniqueFd output[2];  // the read ends of its stdout and stderr (non-blocking), unless inherited
  UniqueFd pidfd;      // readable once the worker has ended; empty where the kernel has no pidfd_open
};

// Forks a worker with a SOCK_SEQPACKET channel and, when `capture_output`, pipes for its stdout
// and stderr. The child keeps standard input, output and error, its channel and `keep`, and
// closes every other descriptor it inherited; it resets `signals` (signals_to_reset()) and
// unblocks every signal. Then `run(channel)` runs; it must not return.
ForkedWorker fork_worker(bool capture_output, std::vector<int> keep, const std::vector<int>& signals,
                         const std::function<void(int)>& run);

// In a forked child: closes every descriptor except those in `keep` (close_range over the
// gaps between them).
void close_descriptors_except(std::vector<int> keep) noexcept;

// The signals a child must put back to their default disposition, as exec() leaves a
// program: every one with a handler (a server's handlers for SIGTERM, SIGHUP... are its own,
// not the workers'), and SIGCHLD if ignored. Other ignored signals stay ignored, as across
// exec. Asked once in the parent (a query per signal), so a fork costs only the resets.
std::vector<int> signals_to_reset();

// In a forked child: `signals` back to their default disposition, none blocked.
void reset_signals(const std::vector<int>& signals) noexcept;

// Every signal blocked in this thread while it lives: around a fork, so that no handler of
// the host runs in the child before reset_signals().
class SignalsBlocked {
 public:
  SignalsBlocked() noexcept;
  ~SignalsBlocked();
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t saved_{};
};

}  // namespace mapreduce::detail
