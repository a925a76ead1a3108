// Owning, killing and reaping forked children. See child_process.hpp.
#include "child_process.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

int ChildProcess::wait() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw Error(fmt::format("waitpid({}): {}", pid_, std::strerror(errno)));
  }
  pid_ = -1;
  return status;
}

void ChildProcess::terminate() noexcept {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

DefaultSigchld::DefaultSigchld() {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGCHLD, &sa, &previous_);
}

DefaultSigchld::~DefaultSigchld() { ::sigaction(SIGCHLD, &previous_, nullptr); }

}  // namespace mapreduce::detail
