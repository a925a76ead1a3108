#pragma once
// The relay of workers' stdout and stderr: the parent reads each worker's pipes and writes
// what came a whole line at a time to its own descriptors, so lines of workers writing at
// once never cut into each other (see worker_output.hpp).
#include <cstddef>
#include <string>
#include <string_view>

#include "mapreduce/detail/resource.hpp"
#include "mapreduce/detail/task_ledger.hpp"
#include "mapreduce/worker_output.hpp"

namespace mapreduce::detail {

// The parent's end of one of a worker's output pipes (its stdout or stderr).
struct OutputPipe {
  UniqueFd fd;
  std::string partial;  // the start of a line whose newline has not come yet
  int target = -1;      // 1 or 2
};

// Who wrote a line, for the prefix "[map worker 2 task 17] ".
struct LineSource {
  unsigned worker = 0;
  std::size_t task = no_task;  // none: "[map worker 2] "
};

class OutputRelay {
 public:
  OutputRelay(WorkerOutput mode, const char* phase) noexcept;

  [[nodiscard]] bool prefixed() const noexcept { return mode_ == WorkerOutput::prefixed; }
  // Passes on the whole lines the pipe holds now (it is non-blocking). At end of file, the
  // last partial line goes too and the pipe is closed.
  void forward(OutputPipe& o, const LineSource& from);
  // The worker has ended: passes on what is in the pipe and closes it, without waiting for
  // an end of file that a process it started may hold back.
  void drain(OutputPipe& o, const LineSource& from);
  // The worker finished its phase and goes on to the next (WorkerHandoff): passes on what is
  // in the pipe, a last partial line too, as drain does, and leaves the pipe open.
  void end_of_phase(OutputPipe& o, const LineSource& from);

 private:
  void emit_lines(OutputPipe& o, const LineSource& who, bool at_end);

  WorkerOutput mode_;
  const char* phase_;
  bool broken_[3] = {false, false, false};  // the parent's stdout or stderr is gone
  bool terminal_[3] = {false, false, false};
};

// Writes all of `data` to `fd`, in one write(2) when it fits. False when `fd` is gone: a
// parent whose stdout is a closed pipe loses the workers' lines, not the job.
bool write_whole(int fd, std::string_view data) noexcept;

}  // namespace mapreduce::detail
