// The worker's side of a phase. See worker_loop.hpp.
#include "worker_loop.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "channel.hpp"
#include "control_block.hpp"
#include "mapreduce/detail/exception_text.hpp"
#include "mapreduce/detail/task_ledger.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/interrupt.hpp"

namespace mapreduce::detail {

[[noreturn]] void worker_main(int sock, PhaseWork& work, const PhaseConfig& config, pid_t parent, WorkerBoard* board) {
  // Die with the parent: a worker must never outlive the job that forked it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
  if (interrupt_fd() >= 0) {
    // The parent decides what an interrupt means; a worker just ends with it.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  }
  WorkerLink link(sock);
  BoardWriter on_board(board);
  if (board != nullptr) board->pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  int code = 0;
  auto msg = std::make_unique<Message>();
  try {
    for (;;) {
      if (!recv_message(sock, *msg, nullptr)) {  // the parent is gone
        code = 1;
        break;
      }
      if (msg->h.kind == Kind::task) {
        const std::uint64_t task = msg->h.a;
        on_board.task_started(task, static_cast<unsigned>(msg->h.b));
        try {
          if (config.before_task != nullptr && *config.before_task) {
            (*config.before_task)(TaskContext{config.name, task, static_cast<unsigned>(msg->h.b)});
          }
          work.run_task(task, link);
        } catch (...) {
          if (current_is_input_error()) {
            try {
              throw;
            } catch (const InputError& e) {
              send_message(sock, Kind::failed, task, 0, e.what(), -1, 1);
            }
          } else {
            send_message(sock, Kind::failed, task, 0, describe_current_exception());
          }
          code = 1;
          break;
        }
        const std::uint64_t records = link.take_records();
        on_board.task_ended(records);
        if (!send_message(sock, Kind::done, task, records)) {
          code = 1;
          break;
        }
      } else if (msg->h.kind == Kind::finish) {
        try {
          work.finish(link);
        } catch (...) {
          send_message(sock, Kind::failed, no_task, 0, describe_current_exception());
          code = 1;
          break;
        }
        send_message(sock, Kind::finished, 0, link.take_records());
        break;
      }
    }
  } catch (...) {
    code = 1;
  }
  // The parent flushed its stdio before fork, so what is buffered here is the worker's own.
  std::fflush(nullptr);
  // _exit: the parent's atexit handlers and static destructors are not ours to run.
  ::_exit(code);
}

SharedSegment WorkerLink::create_segment(std::size_t bytes) {
  if (!send_message(socket_, Kind::reserve, bytes, 0)) ::_exit(1);
  Message m;
  if (!recv_message(socket_, m, nullptr)) ::_exit(1);
  if (m.h.kind == Kind::grant) return SharedSegment::create(bytes);
  if (m.h.kind == Kind::spill) return SharedSegment::create_file(bytes, std::string(m.body()));
  throw JobError(std::string(m.body()));
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
