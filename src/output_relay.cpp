// Workers' output lines, passed on whole. See output_relay.hpp.
#include "output_relay.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

namespace mapreduce::detail {

namespace {
// A line longer than this is passed on in pieces: a worker that never writes a newline
// must not grow the parent's buffer without end.
constexpr std::size_t max_output_line = std::size_t{64} * 1024;
}  // namespace

OutputRelay::OutputRelay(WorkerOutput mode, const char* phase) noexcept
    : mode_(mode), phase_(phase), terminal_{false, ::isatty(1) == 1, ::isatty(2) == 1} {}

// Writes all of `data` to `fd`, in one write(2) when it fits. False when `fd` is gone: a
// parent whose stdout is a closed pipe loses the workers' lines, not the job, so SIGPIPE
// is held back for the write and a SIGPIPE it raised is taken off again.
bool write_whole(int fd, std::string_view data) noexcept {
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  bool ok = true;
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (!ok && errno == EPIPE && !sigismember(&previous, SIGPIPE)) {
    const timespec now{0, 0};
    while (::sigtimedwait(&pipe_signal, nullptr, &now) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return ok;
}

// Passes on what a worker wrote, a whole line at a time.
void OutputRelay::forward(OutputPipe& o, const LineSource& from) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(o.fd.get(), buf, sizeof(buf));
    if (n > 0) {
      o.partial.append(buf, static_cast<std::size_t>(n));
      emit_lines(o, from, false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // End of file (the worker and anything it started have closed it), or an error.
    emit_lines(o, from, true);
    o.fd.reset();
    return;
  }
}

void OutputRelay::emit_lines(OutputPipe& o, const LineSource& who, bool at_end) {
  std::size_t from = 0;
  std::string line;
  for (;;) {
    const std::size_t nl = o.partial.find('\n', from);
    std::size_t end;
    if (nl != std::string::npos) {
      end = nl + 1;
    } else if (o.partial.size() - from >= max_output_line || (at_end && from < o.partial.size())) {
      end = o.partial.size();
    } else {
      break;
    }
    line.clear();
    // On a terminal, a status line drawn without a newline (a progress line) may be
    // showing: erase it, so the worker's line does not land at its end. The program
    // draws its status line again at its next report.
    if (terminal_[o.target]) line += "\r\033[K";
    if (prefixed()) {
      line += who.task != no_task ? fmt::format("[{} worker {} task {}] ", phase_, who.worker, who.task)
                                  : fmt::format("[{} worker {}] ", phase_, who.worker);
    }
    line.append(o.partial, from, end - from);
    if (line.back() != '\n') line += '\n';
    if (!broken_[o.target] && !write_whole(o.target, line)) broken_[o.target] = true;
    from = end;
  }
  o.partial.erase(0, from);
}

void OutputRelay::end_of_phase(OutputPipe& o, const LineSource& from) {
  if (!o.fd) return;
  forward(o, from);
  emit_lines(o, from, true);
}

void OutputRelay::drain(OutputPipe& o, const LineSource& from) {
  if (!o.fd) return;
  forward(o, from);
  emit_lines(o, from, true);
  o.fd.reset();
}

}  // namespace mapreduce::detail
