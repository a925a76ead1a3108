// The parent-worker wire protocol. See channel.hpp.
#include "channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

// Sends one message (SOCK_SEQPACKET keeps it whole), with a descriptor if fd >= 0.
// Returns false when the peer is gone. MSG_NOSIGNAL: a dead peer must not SIGPIPE us.
bool send_message(int sock, Kind kind, std::uint64_t a, std::uint64_t b, std::string_view text, int fd,
                  std::uint64_t c) {
  Message m;
  m.h = MessageHeader{kind, static_cast<std::uint32_t>(std::min(text.size(), max_message_text)), a, b, c};
  if (m.h.text_len != 0) std::memcpy(m.text, text.data(), m.h.text_len);  // an empty view may be null
  iovec iov{&m, sizeof(MessageHeader) + m.h.text_len};
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

namespace {
Receive receive(int sock, Message& m, UniqueFd* fd_out, int flags) {
  iovec iov{&m, sizeof(Message)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  for (;;) {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Receive::empty;
    if (errno == ECONNRESET) return Receive::closed;
    throw Error(fmt::format("worker channel: receive failed: {}", std::strerror(errno)));
  }
  if (n == 0) return Receive::closed;
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
  if (static_cast<std::size_t>(n) < sizeof(MessageHeader) ||
      sizeof(MessageHeader) + m.h.text_len != static_cast<std::size_t>(n)) {
    throw Error("worker channel: malformed message");
  }
  return Receive::message;
}
}  // namespace

// Receives one message; false when the peer has closed its end (it exited or died).
bool recv_message(int sock, Message& m, UniqueFd* fd_out) { return receive(sock, m, fd_out, 0) == Receive::message; }

Receive try_recv_message(int sock, Message& m, UniqueFd* fd_out) { return receive(sock, m, fd_out, MSG_DONTWAIT); }

}  // namespace mapreduce::detail
