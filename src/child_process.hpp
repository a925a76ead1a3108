#pragma once
// The parent's hold on its forked children: each one owned until reaped, and SIGCHLD left
// at its default while they run.
#include <signal.h>
#include <sys/types.h>

#include <utility>

namespace mapreduce::detail {

// A forked child: killed and reaped by the destructor unless already reaped, so no
// exception path leaves a worker running or a zombie behind.
class ChildProcess {
 public:
  ChildProcess() noexcept = default;
  explicit ChildProcess(pid_t pid) noexcept : pid_(pid) {}
  ChildProcess(ChildProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  ChildProcess& operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
      terminate();
      pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
  }
  ~ChildProcess() { terminate(); }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Waits for the child to end and returns its wait status.
  int wait();
  // SIGKILL, then reap.
  void terminate() noexcept;

 private:
  pid_t pid_ = -1;
};

// While a phase runs, SIGCHLD has its default disposition: a program that ignores it (or
// sets SA_NOCLDWAIT) would have the kernel reap the workers before waitpid could.
class DefaultSigchld {
 public:
  DefaultSigchld();
  ~DefaultSigchld();
  DefaultSigchld(const DefaultSigchld&) = delete;
  DefaultSigchld& operator=(const DefaultSigchld&) = delete;

 private:
  struct sigaction previous_ {};
};

}  // namespace mapreduce::detail
