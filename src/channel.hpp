#pragma once
// The wire protocol between the parent and a worker: fixed-size messages on a SOCK_SEQPACKET
// socket (each message arrives whole), optionally carrying one descriptor (SCM_RIGHTS).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/resource.hpp"

namespace mapreduce::detail {

enum class Kind : std::uint32_t {
  // parent -> worker
  task = 1,  // a: task index, b: attempt (1 for the first)
  finish,    // no task is left: publish what you hold and exit
  grant,     // reserve: in shared memory
  spill,     // reserve: the budget is spent, in a spill file; text: the directory
  deny,      // reserve: refused; text says why
  run_set,   // to a worker that finished a phase and waits for the next: one of the next
             // phase's inputs (a run set); carries a descriptor. a: its index
  next,      // to that worker: the next phase starts, over the `a` run sets just sent
  // worker -> parent
  done = 16,  // a: task index, b: records
  reserve,    // a: bytes
  publish,    // a: tag, b: bytes, c: 1 for a spill file; carries a descriptor
  failed,     // a: task index (or no_task), c: 1 for an InputError; text: what happened
  finished,   // b: records
  small,      // a: tag; text: a task's whole result, small enough to travel in the message
};

// The most text one message carries; a result larger than this travels in a segment.
inline constexpr std::size_t max_message_text = 4000;
static_assert(WorkerLink::max_small_bytes == max_message_text);

struct MessageHeader {
  Kind kind;
  std::uint32_t text_len;
  std::uint64_t a;
  std::uint64_t b;
  std::uint64_t c;
};

struct Message {
  MessageHeader h;
  char text[max_message_text];
  [[nodiscard]] std::string_view body() const noexcept { return {text, h.text_len}; }
};

// Sends one message, with a descriptor if fd >= 0. False when the peer is gone (never a
// SIGPIPE); throws Error on any other failure. Text past max_message_text is cut.
bool send_message(int sock, Kind kind, std::uint64_t a, std::uint64_t b, std::string_view text = {}, int fd = -1,
                  std::uint64_t c = 0);

// Receives one message into `m`; false when the peer has closed its end (it exited or
// died). A descriptor that came with it goes to `fd_out`, or is closed when that is null.
// Throws Error on a malformed message or a dropped descriptor.
bool recv_message(int sock, Message& m, UniqueFd* fd_out);

enum class Receive { message, closed, empty };
// As recv_message, without waiting: `empty` when no message is queued.
Receive try_recv_message(int sock, Message& m, UniqueFd* fd_out);

}  // namespace mapreduce::detail
