// Forking one worker. See worker_fork.hpp.
#include "worker_fork.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

ForkedWorker fork_worker(bool capture_output, const std::function<void()>& close_others,
                         const std::function<void(int)>& run) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw Error(fmt::format("cannot create a worker channel: {}", std::strerror(errno)));
  }
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  UniqueFd out_read[2], out_write[2];
  if (capture_output) {
    for (int i = 0; i < 2; ++i) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) {
        throw Error(fmt::format("cannot create a worker output pipe: {}", std::strerror(errno)));
      }
      out_read[i].reset(p[0]);
      out_write[i].reset(p[1]);
    }
  }
  // Whatever stdio holds now would otherwise be written once by each child as well.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("cannot fork a worker: {}", std::strerror(errno)));
  if (pid == 0) {
    // Keep only this worker's ends: a copy of another channel's parent end would stop
    // that worker from seeing EOF when the parent dies.
    ::close(parent_end.release());
    close_others();
    if (out_write[0]) {
      ::close(out_read[0].release());
      ::close(out_read[1].release());
      ::dup2(out_write[0].get(), STDOUT_FILENO);  // dup2 leaves the copies inheritable
      ::dup2(out_write[1].get(), STDERR_FILENO);
      ::close(out_write[0].release());
      ::close(out_write[1].release());
      // A pipe makes stdout fully buffered; lines should still arrive as they are written.
      std::setvbuf(stdout, nullptr, _IOLBF, 0);
    }
    run(child_end.get());
    ::_exit(1);  // `run` never returns; should it, the child still never runs the parent's code
  }
  ForkedWorker w;
  w.process = ChildProcess(pid);  // owned at once: reaped even if what follows throws
  w.socket = std::move(parent_end);
  for (int i = 0; i < 2; ++i) {
    if (!out_read[i]) continue;
    ::fcntl(out_read[i].get(), F_SETFL, O_NONBLOCK);
    w.output[i] = std::move(out_read[i]);
  }
  return w;
}

}  // namespace mapreduce::detail
