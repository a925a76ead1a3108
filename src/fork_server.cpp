// The fork server and its job processes. See fork_server.hpp.
//
// Three processes take part in a job: the caller (any thread of the host), the server (a
// copy of the host made before its threads started, single-threaded for good), and a job
// process the server forks for each job, which runs a Pool as any program would. The
// caller makes a socketpair for the job and hands one end to the server with SCM_RIGHTS;
// the job process reads the request from it and writes the reply back. A status pipe goes
// to the server as well: when a job process dies before it replies, the server, which
// reaps it, writes its wait status there, so the caller can say how it died.
#include "mapreduce/fork_server.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/detail/exception_text.hpp"
#include "mapreduce/detail/resource.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/wait_status.hpp"
#include "worker_fork.hpp"

namespace mapreduce {
namespace detail {
namespace {

// How a reply starts: the result, or the class of the exception the job threw.
enum class ReplyKind : std::uint8_t {
  result = 0,
  error,
  input_error,
  options_error,
  job_error,
  threads_error,
  interrupted,
  other,  // not a mapreduce::Error: its type and message, as a JobError
};

struct ReplyHeader {
  ReplyKind kind;
  std::int32_t signal;  // for interrupted
  std::uint64_t size;
};

struct RequestHeader {
  std::uint64_t entry;  // the JobEntry's address: the same in the server, a fork of the host
  std::uint64_t size;
};

bool write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n != 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// False at EOF (or an error) before n bytes.
bool read_all(int fd, void* data, std::size_t n) {
  char* p = static_cast<char*>(data);
  while (n != 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Reads the job's reply from `sock` into `reply`, header first; false when it cannot be
// complete. The status pipe is watched too: once the job process has been reaped, what it
// wrote is all in the socket, and a process it forked that still holds the socket must not
// keep the caller waiting for an EOF that never comes.
bool read_reply(int sock, int status, std::string& reply) {
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
  auto complete = [&] {
    if (reply.size() < sizeof(ReplyHeader)) return false;
    ReplyHeader h{};
    std::memcpy(&h, reply.data(), sizeof(h));
    return reply.size() - sizeof(ReplyHeader) >= h.size;
  };
  // Reads what is there: false at EOF or an error.
  auto drain = [&] {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(sock, buf, sizeof(buf));
      if (n > 0) {
        reply.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  };
  for (;;) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {status, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[0].revents != 0 && (!drain() || complete())) return complete();
    if (fds[1].revents != 0) {  // reaped (or the server is gone): nothing more will come
      drain();
      return complete();
    }
  }
}

[[noreturn]] void job_process(int sock) {
  RequestHeader h{};
  std::string request;
  if (!read_all(sock, &h, sizeof(h))) ::_exit(1);
  request.resize(h.size);
  if (!read_all(sock, request.data(), request.size())) ::_exit(1);
  ReplyHeader reply{ReplyKind::result, 0, 0};
  std::string body;
  try {
    // An address outside every object loaded in the server (a library the host loaded
    // after the server started) would be a jump into nothing.
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void*>(h.entry), &info) == 0) {
      throw JobError(
          "ForkServer: the job's code is not in this process: was it loaded (dlopen) after the server started?");
    }
    reinterpret_cast<JobEntry>(h.entry)(request.data(), request.size(), body);
  } catch (const ThreadsError& e) {
    reply.kind = ReplyKind::threads_error;
    body = e.what();
  } catch (const InputError& e) {
    reply.kind = ReplyKind::input_error;
    body = e.what();
  } catch (const OptionsError& e) {
    reply.kind = ReplyKind::options_error;
    body = e.what();
  } catch (const JobError& e) {
    reply.kind = ReplyKind::job_error;
    body = e.what();
  } catch (const Interrupted& e) {
    reply.kind = ReplyKind::interrupted;
    reply.signal = e.signal();
    body = e.what();
  } catch (const Error& e) {
    reply.kind = ReplyKind::error;
    body = e.what();
  } catch (...) {
    reply.kind = ReplyKind::other;
    body = describe_current_exception();
  }
  reply.size = body.size();
  const bool sent = write_all(sock, &reply, sizeof(reply)) && write_all(sock, body.data(), body.size());
  std::fflush(nullptr);
  ::_exit(sent ? 0 : 1);  // the host's atexit handlers and static destructors are not ours
}

int reaped_pipe[2] = {-1, -1};  // the server's SIGCHLD self-pipe

extern "C" void on_child(int) {
  const int saved = errno;
  const char b = 0;
  [[maybe_unused]] const ssize_t n = ::write(reaped_pipe[1], &b, 1);
  errno = saved;
}

[[noreturn]] void server_main(int control, pid_t host) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != host) ::_exit(0);
  close_descriptors_except({STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, control});
  reset_signals(signals_to_reset());
  // What a job process puts back: the server's SIGCHLD handler, and the signals the server
  // ignores below that the host did not.
  std::vector<int> job_signals{SIGCHLD};
  for (const int sig : {SIGINT, SIGQUIT, SIGPIPE}) {
    struct sigaction now {};
    if (::sigaction(sig, nullptr, &now) == 0 && now.sa_handler != SIG_IGN) job_signals.push_back(sig);
  }
  // A terminal's ^C or ^\ goes to the whole process group: the host decides what it means,
  // and the jobs die of it; the server stays for the host's next job.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  // A status nobody reads any more (the job replied) must not end the server.
  ::signal(SIGPIPE, SIG_IGN);
  if (::pipe2(reaped_pipe, O_CLOEXEC | O_NONBLOCK) != 0) ::_exit(1);
  struct sigaction sa {};
  sa.sa_handler = on_child;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGCHLD, &sa, nullptr);
  const pid_t self = ::getpid();
  std::map<pid_t, int> status_pipes;  // each running job's, written when it is reaped
  auto reap = [&] {
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      const auto it = status_pipes.find(pid);
      if (it == status_pipes.end()) continue;
      [[maybe_unused]] const ssize_t n = ::write(it->second, &status, sizeof(status));
      ::close(it->second);
      status_pipes.erase(it);
    }
  };
  for (;;) {
    pollfd fds[2] = {{control, POLLIN, 0}, {reaped_pipe[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    if (fds[1].revents != 0) {
      char drain[64];
      while (::read(reaped_pipe[0], drain, sizeof(drain)) > 0) {
      }
      reap();
    }
    if (fds[0].revents == 0) continue;
    // A job: its socket and its status pipe.
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(2 * sizeof(int))];
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    const ssize_t n = ::recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the host closed its end, or is gone
    // Whatever descriptors came are owned at once, so a malformed request leaks none (a
    // leaked copy of a job's socket would keep its caller waiting).
    std::vector<UniqueFd> received;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        received.emplace_back(fd);
      }
    }
    if (received.size() != 2 || (msg.msg_flags & MSG_CTRUNC) != 0) continue;  // the caller sees EOF
    UniqueFd job_socket(std::move(received[0])), status(std::move(received[1]));
    std::fflush(nullptr);
    SignalsBlocked blocked;  // the server's SIGCHLD handler is not the job's
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != self) ::_exit(1);
      close_descriptors_except({STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, job_socket.get()});
      reset_signals(job_signals);
      job_process(job_socket.get());
    }
    if (pid < 0) {
      const int failed = 127 << 8;  // as a shell says of a program it could not run
      [[maybe_unused]] const ssize_t w = ::write(status.get(), &failed, sizeof(failed));
      continue;
    }
    status_pipes[pid] = status.release();
  }
  ::_exit(0);
}

}  // namespace

std::string run_in_server(int control, std::mutex& send_lock, JobEntry entry, const std::string& request) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw Error(fmt::format("ForkServer: cannot create a job's channel: {}", std::strerror(errno)));
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw Error(fmt::format("ForkServer: cannot create a pipe: {}", std::strerror(errno)));
  UniqueFd status_read(p[0]), status_write(p[1]);
  {
    char byte = 0;
    iovec iov{&byte, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(2 * sizeof(int))] = {};
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    const int fds[2] = {theirs.get(), status_write.get()};
    std::memcpy(CMSG_DATA(c), fds, sizeof(fds));
    const std::lock_guard lock(send_lock);
    ssize_t sent;
    while ((sent = ::sendmsg(control, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (sent < 0) throw JobError(fmt::format("ForkServer: the server is gone: {}", std::strerror(errno)));
  }
  theirs.reset();
  status_write.reset();
  const RequestHeader h{reinterpret_cast<std::uint64_t>(entry), request.size()};
  // A job process that dies before it has read the request shows as a failed write here,
  // and as EOF below: its wait status says why.
  const bool sent = write_all(mine.get(), &h, sizeof(h)) && write_all(mine.get(), request.data(), request.size());
  std::string received;
  if (!sent || !read_reply(mine.get(), status_read.get(), received)) {
    int status = 0;
    if (!read_all(status_read.get(), &status, sizeof(status))) {
      throw JobError("ForkServer: the server ended while the job ran");
    }
    throw JobError(fmt::format("ForkServer: the job's process {} before it replied", describe_wait_status(status)));
  }
  ReplyHeader reply{};
  std::memcpy(&reply, received.data(), sizeof(reply));
  std::string body = received.substr(sizeof(reply), reply.size);
  switch (reply.kind) {
    case ReplyKind::result: return body;
    case ReplyKind::error: throw Error(body);
    case ReplyKind::input_error: throw InputError(body);
    case ReplyKind::options_error: throw OptionsError(body);
    case ReplyKind::job_error: throw JobError(body);
    case ReplyKind::threads_error: throw ThreadsError(body);
    case ReplyKind::interrupted: throw Interrupted(reply.signal);
    case ReplyKind::other: throw JobError(body);
  }
  throw JobError("ForkServer: a reply of an unknown kind");
}

}  // namespace detail

ForkServer::ForkServer() {
  const unsigned threads = detail::count_threads();
  if (threads > 1) {
    throw ThreadsError(
        fmt::format("ForkServer: this process already has {} threads; start the server first, while "
                    "the thread that starts it is the only one",
                    threads));
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    throw Error(fmt::format("ForkServer: cannot create its channel: {}", std::strerror(errno)));
  }
  detail::UniqueFd host_end(sv[0]), server_end(sv[1]);
  const pid_t host = ::getpid();
  std::fflush(nullptr);
  detail::SignalsBlocked blocked;  // no handler of the host runs in the server
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(fmt::format("ForkServer: cannot fork: {}", std::strerror(errno)));
  if (pid == 0) detail::server_main(server_end.get(), host);
  pid_ = pid;
  control_ = host_end.release();
}

ForkServer::~ForkServer() {
  // EOF on its channel ends the server; its running jobs die with it (PR_SET_PDEATHSIG).
  // shutdown() first: a child the host forked since may hold a copy of the channel.
  ::shutdown(control_, SHUT_RDWR);
  ::close(control_);
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace mapreduce
