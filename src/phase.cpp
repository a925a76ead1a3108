// Worker processes and the parent's scheduling loop. See detail/phase.hpp.
#include "mapreduce/detail/phase.hpp"

#include <cxxabi.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string_view>
#include <typeinfo>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {
namespace {

enum class Kind : std::uint32_t {
  // parent -> worker
  task = 1,     // a: task index
  finish,       // no task is left: publish what you hold and exit
  grant,        // reserve() granted
  deny,         // reserve() refused; text says why
  // worker -> parent
  done = 16,    // a: task index, b: records
  reserve,      // a: bytes
  publish,      // a: tag, b: bytes; carries a descriptor
  failed,       // a: task index (or no_task); text: what happened
  finished,     // b: records
};

constexpr std::uint64_t no_task = ~std::uint64_t(0);
constexpr std::size_t max_text = 4000;

struct Header {
  Kind kind;
  std::uint32_t text_len;
  std::uint64_t a;
  std::uint64_t b;
};

struct Message {
  Header h;
  char text[max_text];
  [[nodiscard]] std::string_view body() const noexcept { return {text, h.text_len}; }
};

// Sends one message (SOCK_SEQPACKET keeps it whole), with a descriptor if fd >= 0.
// Returns false when the peer is gone. MSG_NOSIGNAL: a dead peer must not SIGPIPE us.
bool send_message(int sock, Kind kind, std::uint64_t a, std::uint64_t b, std::string_view text = {}, int fd = -1) {
  Message m;
  m.h = Header{kind, static_cast<std::uint32_t>(std::min(text.size(), max_text)), a, b};
  std::memcpy(m.text, text.data(), m.h.text_len);
  iovec iov{&m, sizeof(Header) + m.h.text_len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
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

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(name);
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

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{})", sig, abbrev != nullptr ? abbrev : "?");
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return fmt::format("ended with wait status {}", status);
}

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

[[noreturn]] void worker_main(int sock, PhaseWork& work, pid_t parent) {
  // Die with the parent: a worker must never outlive the job that forked it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
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
          work.run_task(task, link);
        } catch (...) {
          send_message(sock, Kind::failed, task, 0, describe_current_exception());
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

struct Worker {
  ChildProcess process;
  UniqueFd socket;
  std::uint64_t task = no_task;
  bool finished = false;
};

}  // namespace

void WorkerLink::reserve(std::size_t bytes) {
  if (!send_message(socket_, Kind::reserve, bytes, 0)) ::_exit(1);
  Message m;
  if (!recv_message(socket_, m, nullptr)) ::_exit(1);
  if (m.h.kind == Kind::deny) throw JobError(std::string(m.body()));
}

void WorkerLink::publish(const SharedSegment& segment, std::uint64_t tag) {
  if (!send_message(socket_, Kind::publish, tag, segment.size(), {}, segment.fd())) ::_exit(1);
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

PhaseOutcome run_phase(std::size_t tasks, PhaseWork& work, const PhaseConfig& config) {
  PhaseOutcome out;
  if (tasks == 0) return out;
  const auto n = static_cast<unsigned>(std::min<std::size_t>(config.workers, tasks));
  std::vector<Worker> workers(n);
  std::vector<UniqueFd> child_ends(n);
  for (unsigned i = 0; i < n; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
      throw Error(fmt::format("cannot create a worker channel: {}", std::strerror(errno)));
    }
    workers[i].socket.reset(sv[0]);
    child_ends[i].reset(sv[1]);
  }
  // Whatever stdio holds now would otherwise be written once by each child as well.
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  for (unsigned i = 0; i < n; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(fmt::format("cannot fork a worker: {}", std::strerror(errno)));
    if (pid == 0) {
      // Keep only this worker's end: a copy of another channel's parent end would stop
      // that worker from seeing EOF when the parent dies.
      for (unsigned j = 0; j < n; ++j) {
        ::close(workers[j].socket.release());
        if (j != i && child_ends[j]) ::close(child_ends[j].release());
      }
      worker_main(child_ends[i].get(), work, parent);
    }
    workers[i].process = ChildProcess(pid);
    child_ends[i].reset();
  }
  out.workers = n;

  std::size_t next = 0;
  std::size_t shm_used = config.shm_in_use;
  auto assign = [&](Worker& w) {
    if (next < tasks) {
      w.task = next++;
      send_message(w.socket.get(), Kind::task, w.task, 0);
    } else {
      w.task = no_task;
      send_message(w.socket.get(), Kind::finish, 0, 0);
    }
  };
  auto task_name = [&](std::uint64_t task) {
    return task == no_task ? std::string("while finishing") : "task " + work.describe_task(task);
  };
  for (auto& w : workers) assign(w);

  auto msg = std::make_unique<Message>();
  std::vector<pollfd> fds;
  std::vector<Worker*> polled;
  unsigned live = n;
  while (live > 0) {
    fds.clear();
    polled.clear();
    for (auto& w : workers) {
      if (w.socket) {
        fds.push_back(pollfd{w.socket.get(), POLLIN, 0});
        polled.push_back(&w);
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("poll: {}", std::strerror(errno)));
    }
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Worker& w = *polled[k];
      UniqueFd received;
      if (!recv_message(w.socket.get(), *msg, &received)) {
        // EOF: the worker has exited, normally after `finished`, or it died.
        const pid_t pid = w.process.pid();
        const int status = w.process.wait();
        w.socket.reset();
        --live;
        if (!w.finished || !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
          throw JobError(fmt::format("{} {}: worker process {} {}", config.name, task_name(w.task), pid,
                                     describe_status(status)));
        }
        continue;
      }
      switch (msg->h.kind) {
        case Kind::done:
          out.records += msg->h.b;
          assign(w);
          break;
        case Kind::reserve:
          if (shm_used + msg->h.a <= config.shm_budget) {
            shm_used += msg->h.a;
            send_message(w.socket.get(), Kind::grant, 0, 0);
          } else {
            send_message(w.socket.get(), Kind::deny, 0, 0,
                         fmt::format("the shared-memory budget of {} bytes is exhausted ({} held, {} more asked); "
                                     "raise PoolOptions::shm_budget",
                                     config.shm_budget, shm_used, msg->h.a));
          }
          break;
        case Kind::publish:
          if (!received) throw Error("worker channel: a published segment arrived without its descriptor");
          out.shm_bytes += msg->h.b;
          out.published.push_back(Published{std::move(received), msg->h.a, msg->h.b});
          break;
        case Kind::failed:
          throw JobError(fmt::format("{} {}: {}", config.name, task_name(msg->h.a), msg->body()));
        case Kind::finished:
          out.records += msg->h.b;
          w.finished = true;
          break;
        default:
          throw Error("worker channel: unexpected message");
      }
    }
  }
  return out;
}

}  // namespace mapreduce::detail
