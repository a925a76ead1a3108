#pragma once
// What a forked worker runs: it takes tasks from the parent over its socket, runs them,
// reports each, and exits when told to finish (or when the parent is gone).
#include <sys/types.h>

#include "mapreduce/detail/phase.hpp"

namespace mapreduce::detail {

struct WorkerBoard;

// Never returns: the worker ends with _exit, so the parent's atexit handlers and static
// destructors are never run in it.
// `board`: this worker's seat in the control block (control_block.hpp), or null.
[[noreturn]] void worker_main(int sock, PhaseWork& work, const PhaseConfig& config, pid_t parent, WorkerBoard* board);

}  // namespace mapreduce::detail
