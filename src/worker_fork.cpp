// Forking one worker. See worker_fork.hpp.
#include "worker_fork.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

void close_descriptors_except(std::vector<int> keep) noexcept {
  std::sort(keep.begin(), keep.end());
  unsigned from = 0;
  auto close_from_to = [](unsigned lo, unsigned hi) {
    if (::close_range(lo, hi, 0) == 0) return;
    // A kernel before 5.9: the descriptors this process has, one by one.
    if (DIR* d = ::opendir("/proc/self/fd")) {
      const int own = ::dirfd(d);
      std::vector<int> open;
      while (const dirent* e = ::readdir(d)) {
        const long fd = std::strtol(e->d_name, nullptr, 10);
        if (e->d_name[0] != '.' && fd != own && static_cast<unsigned long>(fd) >= lo &&
            static_cast<unsigned long>(fd) <= hi) {
          open.push_back(static_cast<int>(fd));
        }
      }
      ::closedir(d);
      for (const int fd : open) ::close(fd);
    }
  };
  for (const int k : keep) {
    if (k < 0 || static_cast<unsigned>(k) < from) continue;
    if (static_cast<unsigned>(k) > from) close_from_to(from, static_cast<unsigned>(k) - 1);
    from = static_cast<unsigned>(k) + 1;
  }
  close_from_to(from, ~0u);
}

std::vector<int> signals_to_reset() {
  std::vector<int> out;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction now {};
    if (::sigaction(sig, nullptr, &now) != 0) continue;  // the C library's own signals
    if ((now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_DFL) continue;
    // As exec does: a handler is the host's code and goes; an ignored signal stays ignored
    // (nohup's SIGHUP, a background job's SIGINT), except SIGCHLD, whose SIG_IGN would reap
    // the worker's own children before it could wait for them.
    const bool ignored = (now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_IGN;
    if (ignored && sig != SIGCHLD) continue;
    out.push_back(sig);
  }
  return out;
}

void reset_signals(const std::vector<int>& signals) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (const int sig : signals) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

SignalsBlocked::SignalsBlocked() noexcept {
  sigset_t all;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
}

SignalsBlocked::~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

ForkedWorker fork_worker(bool capture_output, std::vector<int> keep, const std::vector<int>& signals,
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
  keep.push_back(STDIN_FILENO);
  keep.push_back(STDOUT_FILENO);
  keep.push_back(STDERR_FILENO);
  keep.push_back(child_end.get());
  // Whatever stdio holds now would otherwise be written once by each child as well.
  std::fflush(nullptr);
  SignalsBlocked blocked;  // until the child has reset the host's handlers
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("cannot fork a worker: {}", std::strerror(errno)));
  if (pid == 0) {
    if (out_write[0]) {
      ::dup2(out_write[0].get(), STDOUT_FILENO);  // dup2 leaves the copies inheritable
      ::dup2(out_write[1].get(), STDERR_FILENO);
      // A pipe makes stdout fully buffered; lines should still arrive as they are written.
      std::setvbuf(stdout, nullptr, _IOLBF, 0);
    }
    // Everything else goes: the other workers' channels (a copy of one would hide that
    // worker's death from the parent), and whatever the host had open.
    close_descriptors_except(std::move(keep));
    (void)parent_end.release();
    for (auto& fd : out_read) (void)fd.release();
    for (auto& fd : out_write) (void)fd.release();
    reset_signals(signals);
    run(child_end.get());
    ::_exit(1);  // `run` never returns; should it, the child still never runs the parent's code
  }
  ForkedWorker w;
  w.process = ChildProcess(pid);  // owned at once: reaped even if what follows throws
  w.socket = std::move(parent_end);
  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0) w.pidfd.reset(static_cast<int>(pidfd));
  for (int i = 0; i < 2; ++i) {
    if (!out_read[i]) continue;
    ::fcntl(out_read[i].get(), F_SETFL, O_NONBLOCK);
    w.output[i] = std::move(out_read[i]);
  }
  return w;
}

}  // namespace mapreduce::detail
