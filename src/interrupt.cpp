#include "mapreduce/interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace mapreduce {
namespace {

// The self-pipe: a handler may only do async-signal-safe things, and write() is one. The
// parent's poll() watches the read end next to its workers, so no signal is missed
// between a check and a wait.
int pipe_fds[2] = {-1, -1};
struct sigaction previous_int, previous_term;
bool active = false;
volatile sig_atomic_t pending = 0;

extern "C" void on_interrupt(int sig) {
  const int saved = errno;
  pending = sig;
  const unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], &b, 1);
  errno = saved;
}

}  // namespace

Interrupted::Interrupted(int signal)
    : Error(fmt::format("interrupted by {}", signal == SIGINT    ? "SIGINT"
                                             : signal == SIGTERM ? "SIGTERM"
                                                                 : "a signal")),
      signal_(signal) {}

InterruptGuard::InterruptGuard() {
  if (active) throw Error("only one mapreduce::InterruptGuard may exist at a time");
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw Error(fmt::format("InterruptGuard: pipe: {}", std::strerror(errno)));
  }
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &previous_int);
  ::sigaction(SIGTERM, &sa, &previous_term);
  active = true;
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
  pending = 0;
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  pipe_fds[0] = pipe_fds[1] = -1;
  active = false;
}

namespace detail {
int interrupt_fd() noexcept { return pipe_fds[0]; }
void throw_if_interrupted() {
  if (pending != 0) throw Interrupted(take_interrupt());
}
int take_interrupt() noexcept {
  unsigned char buf[64];
  int sig = pending;
  while (::read(pipe_fds[0], buf, sizeof buf) > 0) {
    if (sig == 0) sig = buf[0];
  }
  pending = 0;
  return sig;
}
}  // namespace detail

}  // namespace mapreduce
