#pragma once
// Forking one worker: its channel to the parent, its output pipes, and what the child keeps.
#include <functional>

#include "child_process.hpp"
#include "mapreduce/detail/resource.hpp"

namespace mapreduce::detail {

struct ForkedWorker {
  ChildProcess process;
  UniqueFd socket;     // the parent's end of the worker's channel
  UniqueFd output[2];  // the read ends of its stdout and stderr (non-blocking), unless inherited
};

// Forks a worker with a SOCK_SEQPACKET channel and, when `capture_output`, pipes for its stdout
// and stderr. In the child, `close_others()` closes what the parent holds of other workers,
// then `run(channel)` runs; it must not return.
ForkedWorker fork_worker(bool capture_output, const std::function<void()>& close_others,
                         const std::function<void(int)>& run);

}  // namespace mapreduce::detail
