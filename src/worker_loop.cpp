// The worker's side of a phase. See worker_loop.hpp.
#include "worker_loop.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "channel.hpp"
#include "control_block.hpp"
#include "mapreduce/detail/exception_text.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/detail/task_ledger.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/interrupt.hpp"

namespace mapreduce::detail {

namespace {
// The private writable memory this process has now (VmData, in /proc/self/status): what a
// forked worker shares with its parent until it writes to it.
std::uint64_t data_bytes_now() noexcept {
  std::FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "VmData: %llu kB", &kib) == 1) break;
  }
  std::fclose(f);
  return std::uint64_t(kib) * 1024;
}

// RLIMIT_DATA counts heap, anonymous private mappings and the like, never shared memory or
// mapped input files: what a task allocates, not what the job shares. The limit is set
// past what the worker has at fork, so a large parent does not use it up.
void limit_memory(std::size_t bytes) noexcept {
  const std::uint64_t limit = data_bytes_now() + bytes;
  rlimit lim{limit, limit};
  ::setrlimit(RLIMIT_DATA, &lim);
}

// How a failed task is reported: an input error and a task past the memory limit reach
// the parent as such (the message's `c`: 1 and 2); anything else as an exception in words.
void report_failure(int sock, std::uint64_t task, const PhaseConfig& config) {
  if (current_is_input_error()) {
    try {
      throw;
    } catch (const InputError& e) {
      send_message(sock, Kind::failed, task, 0, e.what(), -1, 1);
    }
  } else if (config.worker_memory != 0 && current_is_bad_alloc()) {
    send_message(sock, Kind::failed, task, 0,
                 fmt::format("exceeded the worker memory limit of {} (PoolOptions::worker_memory)",
                             describe_bytes(config.worker_memory)),
                 -1, 2);
  } else {
    send_message(sock, Kind::failed, task, 0, describe_current_exception());
  }
}
}  // namespace

namespace {

enum class PhaseEnd { finished, failed };

// Runs the tasks the parent sends until it says `finish`, then finishes `work`: `finished`
// once all is published, `failed` when a task or the finish failed (reported) or the
// parent is gone. Before `finished` is sent, what this process buffered for stdout and
// stderr is flushed, so the parent reads it as this phase's, even if this worker lives on.
PhaseEnd run_phase_tasks(int sock, PhaseWork& work, const PhaseConfig& config, WorkerLink& link, BoardWriter& on_board,
                         Message& msg) {
  for (;;) {
    if (!recv_message(sock, msg, nullptr)) return PhaseEnd::failed;  // the parent is gone
    if (msg.h.kind == Kind::task) {
      const std::uint64_t task = msg.h.a;
      on_board.task_started(task, static_cast<unsigned>(msg.h.b));
      try {
        if (config.before_task != nullptr && *config.before_task) {
          (*config.before_task)(TaskContext{config.name, task, static_cast<unsigned>(msg.h.b)});
        }
        work.run_task(task, link);
      } catch (...) {
        report_failure(sock, task, config);
        return PhaseEnd::failed;
      }
      const std::uint64_t records = link.take_records();
      on_board.task_ended(records);
      if (!send_message(sock, Kind::done, task, records)) return PhaseEnd::failed;
    } else if (msg.h.kind == Kind::finish) {
      try {
        work.finish(link);
      } catch (...) {
        report_failure(sock, no_task, config);
        return PhaseEnd::failed;
      }
      std::fflush(nullptr);
      return send_message(sock, Kind::finished, 0, link.take_records()) ? PhaseEnd::finished : PhaseEnd::failed;
    }
  }
}

// A worker that finished a phase with a handoff waits for the next: the run sets it reads,
// one descriptor a message, then `next`. Empty when told to finish instead, or when the
// parent is gone.
std::optional<std::vector<Published>> wait_for_next_phase(int sock, Message& msg) {
  std::vector<Published> inputs;
  for (;;) {
    UniqueFd received;
    if (!recv_message(sock, msg, &received)) return std::nullopt;
    if (msg.h.kind == Kind::run_set) {
      if (!received || msg.h.a != inputs.size()) throw Error("worker channel: a run set arrived out of order");
      ensure_descriptor_headroom(received.get(), 16);  // the parent may have raised its limit since the fork
      inputs.push_back(Published{std::move(received), 0, 0, false});
    } else if (msg.h.kind == Kind::next) {
      if (msg.h.a != inputs.size()) throw Error("worker channel: the next phase's run sets did not all arrive");
      return inputs;
    } else {
      return std::nullopt;  // finish: the next phase has no work for this worker
    }
  }
}

}  // namespace

[[noreturn]] void worker_main(int sock, PhaseWork& work, const PhaseConfig& config, pid_t parent, WorkerBoard* board) {
  // Die with the parent: a worker must never outlive the job that forked it. (The kernel
  // sends this when the thread that forked it ends: see "One job at a time" in the README.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
  if (config.worker_memory != 0) limit_memory(config.worker_memory);
  WorkerLink link(sock);
  BoardWriter on_board(board);
  if (board != nullptr) board->pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  int code = 0;
  auto msg = std::make_unique<Message>();
  try {
    PhaseEnd end = run_phase_tasks(sock, work, config, link, on_board, *msg);
    if (end == PhaseEnd::finished && config.hand_on != nullptr) {
#if defined(__GLIBC__)
      // What the phase freed goes back to the system, not only to malloc: the next phase
      // starts from about what the worker was forked with, as a new worker would.
      ::malloc_trim(0);
#endif
      // The next phase of the job, in this process: its work is built here, over the inputs
      // the parent sent; both live until the exit below.
      if (std::optional<std::vector<Published>> inputs = wait_for_next_phase(sock, *msg)) {
        std::unique_ptr<PhaseWork> next = config.hand_on->make_next(*inputs);
        PhaseConfig next_config = config;
        next_config.name = config.hand_on->next_phase();
        next_config.hand_on = nullptr;
        end = run_phase_tasks(sock, *next, next_config, link, on_board, *msg);
      }
    }
    code = end == PhaseEnd::finished ? 0 : 1;
  } catch (...) {
    code = 1;
  }
  // The parent flushed its stdio before fork, so what is buffered here is the worker's own.
  std::fflush(nullptr);
  // _exit: the parent's atexit handlers and static destructors are not ours to run.
  ::_exit(code);
}

std::string WorkerLink::reserve(std::size_t bytes) {
  if (!send_message(socket_, Kind::reserve, bytes, 0)) ::_exit(1);
  Message m;
  if (!recv_message(socket_, m, nullptr)) ::_exit(1);
  if (m.h.kind == Kind::grant) return {};
  if (m.h.kind == Kind::spill) return std::string(m.body());
  throw JobError(std::string(m.body()));
}

SharedSegment WorkerLink::create_segment(std::size_t bytes) {
  const std::string spill_dir = reserve(bytes);
  return spill_dir.empty() ? SharedSegment::create(bytes) : SharedSegment::create_file(bytes, spill_dir);
}

SharedSegment WorkerLink::write_segment(std::size_t bytes, const std::vector<std::string_view>& pieces) {
  return SharedSegment::create_written(bytes, pieces, reserve(bytes));
}

bool WorkerLink::publish_small(std::string_view data, std::uint64_t tag) {
  if (data.size() > max_message_text) return false;
  if (!send_message(socket_, Kind::small, tag, 0, data)) ::_exit(1);
  return true;
}

void WorkerLink::publish(const SharedSegment& segment, std::uint64_t tag) {
  segment.start_writeback();
  if (!send_message(socket_, Kind::publish, tag, segment.size(), {}, segment.fd(), segment.in_file() ? 1 : 0)) {
    ::_exit(1);
  }
}

}  // namespace mapreduce::detail
