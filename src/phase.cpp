// Worker processes and the parent's scheduling loop. See detail/phase.hpp.
#include "mapreduce/detail/phase.hpp"

#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string_view>
#include <typeinfo>

#include <fmt/format.h>

#include "mapreduce/error.hpp"
#include "mapreduce/interrupt.hpp"
#include "mapreduce/wait_status.hpp"

namespace mapreduce::detail {

static std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(name);
}

// Whether the exception being handled is a mapreduce::InputError: it reaches the caller
// as one, so a file that changed under the job is an input error, not a job failure.
bool current_is_input_error() {
  try {
    throw;
  } catch (const InputError&) {
    return true;
  } catch (...) {
    return false;
  }
}

// "std::runtime_error: what" for the exception being handled.
std::string describe_current_exception() {
  const std::type_info* t = abi::__cxa_current_exception_type();
  const std::string type = t != nullptr ? demangle(t->name()) : "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    return fmt::format("{}: {}", type, e.what());
  } catch (...) {
    return fmt::format("exception of type {}", type);
  }
}

namespace {

enum class Kind : std::uint32_t {
  // parent -> worker
  task = 1,     // a: task index, b: attempt (1 for the first)
  finish,       // no task is left: publish what you hold and exit
  grant,        // reserve: in shared memory
  spill,        // reserve: the budget is spent, in a spill file
  deny,         // reserve: refused; text says why
  // worker -> parent
  done = 16,    // a: task index, b: records
  reserve,      // a: bytes
  publish,      // a: tag, b: bytes, c: 1 for a spill file; carries a descriptor
  failed,       // a: task index (or no_task), c: 1 for an InputError; text: what happened
  finished,     // b: records
  small,        // a: tag; text: a task's whole result, small enough to travel in the message
};

constexpr std::uint64_t no_task = ~std::uint64_t(0);
constexpr std::size_t max_text = 4000;

struct Header {
  Kind kind;
  std::uint32_t text_len;
  std::uint64_t a;
  std::uint64_t b;
  std::uint64_t c;
};

struct Message {
  Header h;
  char text[max_text];
  [[nodiscard]] std::string_view body() const noexcept { return {text, h.text_len}; }
};

// Sends one message (SOCK_SEQPACKET keeps it whole), with a descriptor if fd >= 0.
// Returns false when the peer is gone. MSG_NOSIGNAL: a dead peer must not SIGPIPE us.
bool send_message(int sock, Kind kind, std::uint64_t a, std::uint64_t b, std::string_view text = {}, int fd = -1,
                  std::uint64_t c = 0) {
  Message m;
  m.h = Header{kind, static_cast<std::uint32_t>(std::min(text.size(), max_text)), a, b, c};
  if (m.h.text_len != 0) std::memcpy(m.text, text.data(), m.h.text_len);  // an empty view may be null
  iovec iov{&m, sizeof(Header) + m.h.text_len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return true;
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) return false;
    throw Error(fmt::format("worker channel: send failed: {}", std::strerror(errno)));
  }
}

// Receives one message; false when the peer has closed its end (it exited or died).
bool recv_message(int sock, Message& m, UniqueFd* fd_out) {
  iovec iov{&m, sizeof(Message)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  for (;;) {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return false;
    throw Error(fmt::format("worker channel: receive failed: {}", std::strerror(errno)));
  }
  if (n == 0) return false;
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    throw Error("worker channel: a segment's descriptor was dropped: too many open files (raise RLIMIT_NOFILE)");
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      if (fd_out != nullptr) {
        fd_out->reset(fd);
      } else {
        ::close(fd);
      }
    }
  }
  if (static_cast<std::size_t>(n) < sizeof(Header) || sizeof(Header) + m.h.text_len != static_cast<std::size_t>(n)) {
    throw Error("worker channel: malformed message");
  }
  return true;
}

}  // namespace

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{})", sig, abbrev != nullptr ? abbrev : "?");
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return fmt::format("ended with wait status {}", status);
}

namespace {

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
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) throw Error(fmt::format("waitpid({}): {}", pid_, std::strerror(errno)));
    }
    pid_ = -1;
    return status;
  }
  void terminate() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};


using Clock = std::chrono::steady_clock;

[[noreturn]] void worker_main(int sock, PhaseWork& work, const PhaseConfig& config, pid_t parent) {
  // Die with the parent: a worker must never outlive the job that forked it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
  if (interrupt_fd() >= 0) {
    // The parent decides what an interrupt means; a worker just ends with it.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  }
  WorkerLink link(sock);
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
        if (!send_message(sock, Kind::done, task, link.take_records())) {
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

// The parent's end of one of a worker's output pipes (its stdout or stderr), passed on to
// the parent's own descriptor a whole line at a time.
struct OutputPipe {
  UniqueFd fd;
  std::string partial;  // the start of a line whose newline has not come yet
  int target = -1;      // 1 or 2
};

struct Worker {
  ChildProcess process;
  UniqueFd socket;
  unsigned id = 0;                    // 1, 2...: for the prefix of its output lines
  OutputPipe output[2];               // its stdout and stderr, unless inherited
  bool idle = false;                  // waiting for the window to move (imap)
  std::uint64_t task = no_task;       // the task it runs now
  bool task_published = false;        // that task's output is already in a published segment
  std::vector<std::uint64_t> held;    // tasks done whose output is still in its memory
  unsigned tasks_run = 0;
  bool finishing = false;             // sent `finish`
  bool finished = false;              // reported `finished`
  std::size_t reserved = 0;           // shared memory granted but not yet published
  std::string failure;                // why it is going away, when the parent knows better than waitpid
  Clock::time_point deadline = Clock::time_point::max();
};

// While a phase runs, SIGCHLD has its default disposition: a program that ignores it (or
// sets SA_NOCLDWAIT) would have the kernel reap the workers before waitpid could.
class DefaultSigchld {
 public:
  DefaultSigchld() {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGCHLD, &sa, &previous_);
  }
  ~DefaultSigchld() { ::sigaction(SIGCHLD, &previous_, nullptr); }
  DefaultSigchld(const DefaultSigchld&) = delete;
  DefaultSigchld& operator=(const DefaultSigchld&) = delete;

 private:
  struct sigaction previous_ {};
};

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

constexpr std::size_t max_output_line = 64 * 1024;

}  // namespace

// The parent's side of one phase.
class Scheduler {
 public:
  Scheduler(std::size_t tasks, PhaseWork& work, const PhaseConfig& config)
      : tasks_(tasks), work_(work), config_(config), attempts_(tasks, 0), history_(tasks),
        shm_used_(config.shm_in_use), parent_(::getpid()),
        label_(config.job.empty() ? std::string(config.name) : config.job + ": " + config.name),
        done_(tasks, 0), released_(config.window != 0 ? tasks : 0, 0), started_(Clock::now()) {
    if (config_.max_attempts == 0) throw OptionsError("max_attempts must be at least 1");
  }

  void start() {
    if (reporting()) {
      for (std::size_t t = 0; t < tasks_; ++t) bytes_total_ += work_.task_bytes(t);
      report();
    }
    const unsigned n = static_cast<unsigned>(std::min<std::size_t>(config_.workers, tasks_));
    for (unsigned i = 0; i < n; ++i) spawn();
  }

  PhaseOutcome run() {
    start();
    while (step()) {
    }
    return std::move(out_);
  }

  // One wait for the workers and the handling of what they sent; false once all ended.
  bool step() {
    if (live_ == 0) return false;
    if (config_.window != 0 && stepped_) {
      // Between steps of an imap the reader has the parent: workers that wait for an answer
      // (a reserve) or for their pipes to drain wait on it, and that time is not theirs.
      const auto away = Clock::now() - last_step_;
      for (auto& w : workers_) {
        if (w.socket && w.task != no_task && w.deadline != Clock::time_point::max()) w.deadline += away;
      }
    }
    fds_.clear();
    polled_.clear();
    const int interrupt = interrupt_fd();
    if (interrupt >= 0) fds_.push_back(pollfd{interrupt, POLLIN, 0});
    for (auto& w : workers_) {
      // Output pipes before the socket: a line written before the worker reported its task
      // done is still read (and prefixed) as that task's.
      for (auto& o : w.output) {
        if (o.fd) {
          fds_.push_back(pollfd{o.fd.get(), POLLIN, 0});
          polled_.push_back(Polled{&w, &o});
        }
      }
      if (w.socket) {
        fds_.push_back(pollfd{w.socket.get(), POLLIN, 0});
        polled_.push_back(Polled{&w, nullptr});
      }
    }
    if (::poll(fds_.data(), fds_.size(), poll_timeout_ms()) < 0) {
      if (errno == EINTR) return true;
      throw Error(fmt::format("poll: {}", std::strerror(errno)));
    }
    // An interrupt wins over whatever else happened: the workers may be dying of it too.
    if (interrupt >= 0 && fds_[0].revents != 0) {
      throw Interrupted(take_interrupt());
    }
    // Messages first: a task that finished just before its deadline must count as done.
    const std::size_t base = interrupt >= 0 ? 1 : 0;
    for (std::size_t k = 0; k < polled_.size(); ++k) {
      if (fds_[base + k].revents == 0) continue;
      Worker& w = *polled_[k].worker;
      if (polled_[k].pipe != nullptr) {
        if (polled_[k].pipe->fd) forward(w, *polled_[k].pipe);
      } else if (w.socket) {
        // What the worker wrote before this message is in its pipes by now, whether or not
        // this poll saw it: pass it on while its task is still the one in the prefix. (Only
        // the prefix needs it: unprefixed lines are read when poll reports them, and a
        // message per task need not cost two more reads.)
        if (config_.output == WorkerOutput::prefixed) {
          for (auto& o : w.output) {
            if (o.fd) forward(w, o);
          }
        }
        handle(w, *msg_);
      }
    }
    kill_overdue();
    wake_idle();
    spawn_replacements();
    stepped_ = true;
    last_step_ = Clock::now();
    return live_ > 0;
  }

  std::vector<Published> take_published() { return std::exchange(out_.published, {}); }
  std::vector<SmallResult> take_small() { return std::exchange(small_, {}); }

  void release(std::size_t task, std::uint64_t shm_bytes) {
    shm_used_ -= std::min<std::size_t>(shm_used_, shm_bytes);
    if (task < released_.size() && released_[task] == 0) {
      released_[task] = 1;
      ++released_count_;
      while (first_unreleased_ < tasks_ && released_[first_unreleased_] != 0) ++first_unreleased_;
    }
    wake_idle();
  }

 private:
  struct Polled {
    Worker* worker;
    OutputPipe* pipe;  // null: the worker's socket
  };

  bool work_left() const noexcept { return !retry_.empty() || next_ < tasks_; }
  // Whether a task never started may start now, within the caller's window (imap).
  bool window_open() const noexcept {
    if (config_.window == 0) return true;
    if (config_.ordered) return next_ < first_unreleased_ + config_.window;
    return next_ - released_count_ < config_.window;
  }

  bool reporting() const noexcept { return config_.progress != nullptr && *config_.progress; }
  void report() {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    (*config_.progress)(Progress{config_.name, tasks_done_, tasks_, bytes_done_, bytes_total_, seconds});
  }

  void spawn() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      throw Error(fmt::format("cannot create a worker channel: {}", std::strerror(errno)));
    }
    UniqueFd parent_end(sv[0]), child_end(sv[1]);
    UniqueFd out_read[2], out_write[2];
    if (config_.output != WorkerOutput::inherit) {
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
      for (auto& w : workers_) {
        ::close(w.socket.release());
        for (auto& o : w.output) ::close(o.fd.release());
      }
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
      worker_main(child_end.get(), work_, config_, parent_);
    }
    ChildProcess child(pid);  // owned at once: reaped even if what follows throws
    Worker& w = workers_.emplace_back();
    w.process = std::move(child);
    w.socket = std::move(parent_end);
    w.id = ++out_.workers;
    for (int i = 0; i < 2; ++i) {
      if (!out_read[i]) continue;
      ::fcntl(out_read[i].get(), F_SETFL, O_NONBLOCK);
      w.output[i].fd = std::move(out_read[i]);
      w.output[i].target = i + 1;
    }
    ++live_;
    assign(w);
  }

  void spawn_replacements() {
    unsigned busy = 0;
    for (const auto& w : workers_) busy += w.socket && !w.finishing ? 1 : 0;
    while (work_left() && busy < config_.workers) {
      spawn();
      ++busy;
    }
  }

  // Idle workers take the tasks the window now allows, and retries.
  void wake_idle() {
    for (auto& w : workers_) {
      if (w.idle && w.socket && (!retry_.empty() || (next_ < tasks_ && window_open()) || !work_left())) assign(w);
    }
  }

  void assign(Worker& w) {
    w.idle = false;
    const bool recycle = config_.max_tasks_per_worker != 0 && w.tasks_run >= config_.max_tasks_per_worker;
    if (work_left() && !recycle && (!retry_.empty() || window_open())) {
      if (!retry_.empty()) {
        w.task = retry_.front();
        retry_.pop_front();
      } else {
        w.task = next_++;
      }
      w.task_published = false;
      ++w.tasks_run;
      if (config_.task_timeout > 0 && config_.task_timeout < 1e9) {
        w.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(config_.task_timeout));
      }
      send_message(w.socket.get(), Kind::task, w.task, attempts_[w.task] + 1);
    } else if (work_left() && !recycle) {
      // The window is full: wait, with nothing to do, until the caller takes results.
      w.task = no_task;
      w.idle = true;
      w.deadline = Clock::time_point::max();
    } else {
      w.task = no_task;
      w.finishing = true;
      w.deadline = Clock::time_point::max();
      send_message(w.socket.get(), Kind::finish, 0, 0);
    }
  }

  // Passes on what a worker wrote, a whole line at a time.
  void forward(Worker& w, OutputPipe& o) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(o.fd.get(), buf, sizeof(buf));
      if (n > 0) {
        o.partial.append(buf, static_cast<std::size_t>(n));
        emit_lines(w, o, false);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // End of file (the worker and anything it started have closed it), or an error.
      emit_lines(w, o, true);
      o.fd.reset();
      return;
    }
  }

  void emit_lines(const Worker& w, OutputPipe& o, bool at_end) {
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
      if (config_.output == WorkerOutput::prefixed) {
        line += w.task != no_task ? fmt::format("[{} worker {} task {}] ", config_.name, w.id, w.task)
                                  : fmt::format("[{} worker {}] ", config_.name, w.id);
      }
      line.append(o.partial, from, end - from);
      if (line.back() != '\n') line += '\n';
      if (!broken_[o.target] && !write_whole(o.target, line)) broken_[o.target] = true;
      from = end;
    }
    o.partial.erase(0, from);
  }

  int poll_timeout_ms() const {
    Clock::time_point first = Clock::time_point::max();
    for (const auto& w : workers_) {
      if (w.socket && w.task != no_task) first = std::min(first, w.deadline);
    }
    if (first == Clock::time_point::max()) return -1;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(ms + 1, 0, 60000));
  }

  void kill_overdue() {
    const auto now = Clock::now();
    for (auto& w : workers_) {
      if (w.socket && w.task != no_task && w.deadline <= now && w.failure.empty()) {
        w.failure = fmt::format("worker process {} was killed after the task ran past its {} s timeout",
                                w.process.pid(), config_.task_timeout);
        ::kill(w.process.pid(), SIGKILL);
      }
    }
  }

  std::string task_name(std::uint64_t task) const {
    return task == no_task ? std::string("while finishing") : "task " + work_.describe_task(task);
  }

  // One failed attempt of `task`: run it again, or fail the job once it has used them all.
  void failed_attempt(std::uint64_t task, const std::string& cause) {
    const unsigned n = ++attempts_[task];
    history_[task] += fmt::format("{}attempt {}: {}", n > 1 ? "; " : "", n, cause);
    if (n >= config_.max_attempts) {
      if (config_.max_attempts == 1) throw JobError(fmt::format("{} {}: {}", label_, task_name(task), cause));
      throw JobError(fmt::format("{} {} failed {} times: {}", label_, task_name(task), n, history_[task]));
    }
    ++out_.retries;
    retry_.push_back(task);
  }

  void handle(Worker& w, Message& msg) {
    UniqueFd received;
    if (!recv_message(w.socket.get(), msg, &received)) {
      ended(w);
      return;
    }
    switch (msg.h.kind) {
      case Kind::done:
        out_.records += msg.h.b;
        if (reporting() && !done_[w.task]) {  // a task that ran again is counted once
          done_[w.task] = 1;
          ++tasks_done_;
          bytes_done_ += work_.task_bytes(w.task);
          report();
        }
        if (!w.task_published) w.held.push_back(w.task);
        if (!w.failure.empty()) {  // being killed: it gets no new task, its EOF comes next
          w.task = no_task;
          break;
        }
        assign(w);
        break;
      case Kind::reserve: {
        const std::size_t bytes = msg.h.a;
        if (shm_used_ + bytes <= config_.shm_budget) {
          shm_used_ += bytes;
          w.reserved += bytes;
          send_message(w.socket.get(), Kind::grant, 0, 0);
        } else if (!config_.spill_dir.empty()) {
          send_message(w.socket.get(), Kind::spill, 0, 0, config_.spill_dir);
        } else {
          send_message(w.socket.get(), Kind::deny, 0, 0,
                       fmt::format("the shared-memory budget of {} bytes is spent ({} held, {} more asked) and "
                                   "spilling is off; raise PoolOptions::shm_budget or set a spill_dir",
                                   config_.shm_budget, shm_used_, bytes));
        }
        break;
      }
      case Kind::publish: {
        if (!received) throw Error("worker channel: a published segment arrived without its descriptor");
        const bool spilled = msg.h.c != 0;
        if (spilled) {
          out_.spilled_bytes += msg.h.b;
        } else {
          w.reserved -= std::min<std::size_t>(w.reserved, msg.h.b);
          out_.shm_bytes += msg.h.b;
        }
        out_.published.push_back(Published{std::move(received), msg.h.a, msg.h.b, spilled});
        // Everything the worker held, and the task it runs, is in that segment now.
        w.held.clear();
        w.task_published = true;
        break;
      }
      case Kind::failed:
        if (msg.h.c == 1) throw InputError(std::string(msg.body()));
        if (config_.retry_exceptions && msg.h.a != no_task) {
          w.failure = std::string(msg.body());  // the worker exits next; ended() retries
        } else {
          throw JobError(fmt::format("{} {}: {}", label_, task_name(msg.h.a), msg.body()));
        }
        break;
      case Kind::finished:
        out_.records += msg.h.b;
        w.finished = true;
        break;
      case Kind::small:
        small_.push_back(SmallResult{msg.h.a, std::string(msg.body())});
        w.held.clear();
        w.task_published = true;
        break;
      default:
        throw Error("worker channel: unexpected message");
    }
  }

  // The worker's socket reached EOF: it has exited, normally after `finished`, or it died.
  void ended(Worker& w) {
    const pid_t pid = w.process.pid();
    const int status = w.process.wait();
    w.socket.reset();
    w.idle = false;
    // What it wrote before it ended is in its pipes now; a process it started may still
    // hold them open, so read what is there and stop at that.
    for (auto& o : w.output) {
      if (!o.fd) continue;
      forward(w, o);
      emit_lines(w, o, true);
      o.fd.reset();
    }
    --live_;
    shm_used_ -= std::min(shm_used_, w.reserved);  // granted, never published: gone with the worker
    w.reserved = 0;
    if (w.finished && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    if (++deaths_ > config_.max_attempts * std::max<std::size_t>(tasks_, 1) + config_.workers) {
      throw JobError(fmt::format("{}: workers keep dying ({} so far), the last one {}", label_, deaths_,
                                 describe_wait_status(status)));
    }
    const std::string cause =
        !w.failure.empty() ? w.failure : fmt::format("worker process {} {}", pid, describe_wait_status(status));
    if (w.task != no_task && !w.task_published) {
      if (WIFSIGNALED(status) && w.failure.empty()) work_.diagnose_crash(w.task);
      failed_attempt(w.task, cause);
    }
    // Tasks it had finished but not yet published are lost with it. If it died writing
    // them out, they count as failed; if it died idle, they simply run again.
    for (const std::uint64_t t : w.held) {
      if (w.finishing) {
        failed_attempt(t, cause);
      } else {
        retry_.push_back(t);
      }
    }
    w.held.clear();
  }

  DefaultSigchld sigchld_;  // first: in force before any worker is forked, until all are reaped
  std::size_t tasks_;
  PhaseWork& work_;
  const PhaseConfig& config_;
  std::vector<unsigned> attempts_;
  std::vector<std::string> history_;
  std::deque<std::uint64_t> retry_;
  std::size_t next_ = 0;
  std::size_t shm_used_;
  pid_t parent_;
  std::string label_;  // "map", or "count words: map" for a named job
  std::vector<char> done_;  // tasks finished at least once (progress)
  std::vector<char> released_;  // tasks whose results the caller took (imap's window)
  std::size_t released_count_ = 0, first_unreleased_ = 0;
  std::size_t tasks_done_ = 0;
  std::uint64_t bytes_done_ = 0, bytes_total_ = 0;
  Clock::time_point started_;
  std::deque<Worker> workers_;  // a deque: spawning never moves a Worker
  unsigned live_ = 0;
  unsigned deaths_ = 0;
  PhaseOutcome out_;
  std::unique_ptr<Message> msg_ = std::make_unique<Message>();
  std::vector<pollfd> fds_;
  std::vector<Polled> polled_;
  bool broken_[3] = {false, false, false};  // the parent's stdout or stderr is gone
  bool terminal_[3] = {false, ::isatty(1) == 1, ::isatty(2) == 1};
  std::vector<SmallResult> small_;  // results that came in messages (WorkerLink::publish_small)
  bool stepped_ = false;
  Clock::time_point last_step_{};
};

SharedSegment WorkerLink::create_segment(std::size_t bytes) {
  if (!send_message(socket_, Kind::reserve, bytes, 0)) ::_exit(1);
  Message m;
  if (!recv_message(socket_, m, nullptr)) ::_exit(1);
  if (m.h.kind == Kind::grant) return SharedSegment::create(bytes);
  if (m.h.kind == Kind::spill) return SharedSegment::create_file(bytes, std::string(m.body()));
  throw JobError(std::string(m.body()));
}

bool WorkerLink::publish_small(std::string_view data, std::uint64_t tag) {
  if (data.size() > max_text) return false;
  if (!send_message(socket_, Kind::small, tag, 0, data)) ::_exit(1);
  return true;
}

void WorkerLink::publish(const SharedSegment& segment, std::uint64_t tag) {
  if (!send_message(socket_, Kind::publish, tag, segment.size(), {}, segment.fd(), segment.in_file() ? 1 : 0)) {
    ::_exit(1);
  }
}

unsigned available_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

std::size_t default_shm_budget() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::size_t(1) << 30;
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 2;
}

std::string default_spill_dir() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? std::string(t) : std::string("/tmp");
}

PhaseOutcome run_phase(std::size_t tasks, PhaseWork& work, const PhaseConfig& config) {
  if (tasks == 0) return {};
  Scheduler scheduler(tasks, work, config);
  return scheduler.run();
}

PhaseRun::PhaseRun(std::size_t tasks, PhaseWork& work, const PhaseConfig& config)
    : scheduler_(std::make_unique<Scheduler>(tasks, work, config)) {
  if (tasks != 0) scheduler_->start();
}
PhaseRun::~PhaseRun() = default;
bool PhaseRun::step() { return scheduler_->step(); }
std::vector<Published> PhaseRun::take_published() { return scheduler_->take_published(); }
std::vector<SmallResult> PhaseRun::take_small() { return scheduler_->take_small(); }
void PhaseRun::release(std::size_t task, std::uint64_t shm_bytes) { scheduler_->release(task, shm_bytes); }

}  // namespace mapreduce::detail

namespace mapreduce {
std::string describe_wait_status(int status) { return detail::describe_wait_status(status); }
}  // namespace mapreduce
