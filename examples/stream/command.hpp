#pragma once
// The commands of a streaming job (mapper, combiner, reducer): parsed into argv, started
// with Boost.Process, fed their input on stdin while their stdout is read line by line.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <boost/process/search_path.hpp>
#include <fmt/format.h>

#include <mapreduce/error.hpp>
#include <mapreduce/wait_status.hpp>

#include "shell_words.hpp"

namespace stream {

/// A command line as the user gave it, and the argv it runs as.
struct Command {
  std::string role;               ///< "mapper", "combiner", "reducer": for messages
  std::string text;               ///< as given on the command line
  std::string program;            ///< the executable, resolved through PATH
  std::vector<std::string> args;  ///< argv[1...]
};

/// The command `text` runs as: its own argv, or `/bin/sh -c text` with `shell`. Resolves
/// the program now, in the parent, so a misspelt one is a usage error before any work.
inline Command make_command(std::string role, std::string text, bool shell) {
  Command c{std::move(role), std::move(text), {}, {}};
  std::vector<std::string> words = shell ? std::vector<std::string>{"/bin/sh", "-c", c.text}
                                         : split_words(c.role, c.text);
  std::string program = words.front();
  if (program.find('/') == std::string::npos) {
    const auto found = boost::process::search_path(program);
    if (found.empty()) {
      throw mapreduce::OptionsError(fmt::format("--{} '{}': {}: no such program in PATH", c.role, c.text, program));
    }
    program = found.string();
  }
  if (::access(program.c_str(), X_OK) != 0) {
    throw mapreduce::OptionsError(
        fmt::format("--{} '{}': {}: cannot execute: {}", c.role, c.text, program, std::strerror(errno)));
  }
  c.program = std::move(program);
  c.args.assign(words.begin() + 1, words.end());
  return c;
}

/// What happened to a command that did not succeed: it exited non-zero, was killed, or
/// could not start. Thrown in the worker, it fails the task (which is then run again).
class CommandFailed : public mapreduce::Error {
 public:
  using mapreduce::Error::Error;
};

// The command's pipes never block the worker: it writes and reads both in one poll loop.
inline void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

/// Runs `command` with the pieces of `input`, one after the other, on its stdin (so a
/// partition's lines go from where they are, never copied into one string), and calls
/// `on_line(line)` for every line of its stdout (without the newline; a last line without
/// one counts too), writing and reading
/// at once so neither side waits on a full pipe. Its stderr is the worker's own, which the
/// Pool passes on line by line. Returns the number of lines; throws CommandFailed unless
/// the command exits with status 0.
template <class OnLine>
std::uint64_t run_command(const Command& command, std::span<const std::string_view> input, OnLine&& on_line) {
  namespace bp = boost::process;
  bp::pipe to_child, from_child;
  bp::child child;
  try {
    child = bp::child(
        bp::exe = command.program, bp::args = command.args, bp::std_in<to_child, bp::std_out> from_child,
        bp::extend::on_exec_setup = [](auto&) {
          // In the new process, before exec: die with the worker (a timed-out
          // task's worker is killed), and take SIGPIPE as programs expect.
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          ::signal(SIGPIPE, SIG_DFL);
        });
  } catch (const std::exception& e) {
    throw CommandFailed(fmt::format("{} '{}' could not start: {}", command.role, command.text, e.what()));
  }
  // A command that exits before reading all its input must fail the task (or not) by its
  // exit status, not kill the worker with SIGPIPE: write() reports EPIPE instead.
  ::signal(SIGPIPE, SIG_IGN);
  int in = to_child.native_sink();
  const int out = from_child.native_source();
  set_nonblocking(in);
  set_nonblocking(out);
  std::string pending;  // the start of a line not ended yet
  std::uint64_t lines = 0;
  auto take_lines = [&](bool at_end) {
    std::size_t from = 0;
    for (std::size_t nl; (nl = pending.find('\n', from)) != std::string::npos; from = nl + 1) {
      on_line(std::string_view(pending).substr(from, nl - from));
      ++lines;
    }
    if (at_end && from < pending.size()) {
      on_line(std::string_view(pending).substr(from));
      ++lines;
      from = pending.size();
    }
    pending.erase(0, from);
  };
  char buf[65536];
  std::size_t written = 0;  // of input.front()
  bool out_open = true;
  while (out_open) {
    pollfd fds[2] = {{out, POLLIN, 0}, {in, POLLOUT, 0}};
    const nfds_t n = in >= 0 ? 2 : 1;
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      throw mapreduce::Error(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (in >= 0 && fds[1].revents != 0) {
      // Up to 256 pieces (at most 1 MiB) per writev: a piece is often one key's few lines.
      iovec iov[256];
      int count = 0;
      std::size_t bytes = 0;
      for (std::size_t k = 0; k < input.size() && count < 256 && bytes < (1 << 20); ++k) {
        const std::string_view piece = input[k].substr(k == 0 ? written : 0);
        if (piece.empty()) continue;
        iov[count++] = iovec{const_cast<char*>(piece.data()), piece.size()};
        bytes += piece.size();
      }
      const ssize_t w = count == 0 ? 0 : ::writev(in, iov, count);
      // Move past what was written, whole pieces and part of the last one.
      for (std::size_t left = w > 0 ? static_cast<std::size_t>(w) : 0; !input.empty();) {
        const std::size_t rest = input.front().size() - written;
        if (left < rest) {
          written += left;
          break;
        }
        left -= rest;
        written = 0;
        input = input.subspan(1);
      }
      // All written, or the command stopped reading (EPIPE: it may not need the rest).
      if (input.empty() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        ::close(in);
        to_child.assign_sink(-1);
        in = -1;
      }
    }
    if (fds[0].revents != 0) {
      const ssize_t r = ::read(out, buf, sizeof(buf));
      if (r > 0) {
        pending.append(buf, static_cast<std::size_t>(r));
        take_lines(false);
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        out_open = false;
      }
    }
  }
  take_lines(true);
  if (in >= 0) {
    ::close(in);
    to_child.assign_sink(-1);
  }
  child.wait();
  const int status = child.native_exit_code();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw CommandFailed(fmt::format("{} '{}' {}", command.role, command.text, mapreduce::describe_wait_status(status)));
  }
  return lines;
}

/// The same, with one piece of input.
template <class OnLine>
std::uint64_t run_command(const Command& command, std::string_view input, OnLine&& on_line) {
  return run_command(command, std::span<const std::string_view>(&input, 1), std::forward<OnLine>(on_line));
}

}  // namespace stream
