#pragma once
// Jobs from a multi-threaded program: a single-threaded fork server, started before the
// threads, forks a fresh process for each job.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "mapreduce/codec.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce {

namespace detail {
// What runs a job in the job process: decodes the job and its arguments from `request`,
// runs it, and encodes what it returned into `reply`. An instantiation of run_job below.
using JobEntry = void (*)(const char* request, std::size_t size, std::string& reply);

// Sends one job to the server and waits for its reply (src/fork_server.cpp). Throws what
// the job threw, as the same class (Error and its subclasses; others as JobError).
std::string run_in_server(int control, std::mutex& send_lock, JobEntry entry, const std::string& request);

template <class... Ts>
std::size_t encoded_size(const Ts&... values) {
  return (std::size_t(0) + ... + Codec<Ts>::size(values));
}

// Encodes `values` one after another into `out`, checking each Codec's write against its
// size(): a lying Codec fails here, with its type named, not in the other process.
template <class... Ts>
void encode_into(std::string& out, const Ts&... values) {
  out.resize(out.size() + encoded_size(values...));
  char* at = out.data() + out.size() - encoded_size(values...);
  [[maybe_unused]] auto one = [&](const auto& v) {
    using T = std::decay_t<decltype(v)>;
    const std::size_t n = Codec<T>::size(v);
    char* end = Codec<T>::write(at, v);
    if (end != at + n) throw JobError("ForkServer: a Codec's write() used other than the bytes its size() said");
    at = end;
  };
  (one(values), ...);
}

template <class T>
T decode_one(const char*& at, const char* end) {
  read_end = end;  // the library's own Codecs refuse to read past it
  struct Reset {
    ~Reset() { read_end = nullptr; }
  } reset;
  T v = Codec<T>::read(at);
  if (at > end) throw JobError("ForkServer: a Codec's read() went past the bytes written");
  return v;
}

template <class Job, class... Args>
void run_job(const char* request, std::size_t size, std::string& reply) {
  if (size < sizeof(Job)) throw JobError("ForkServer: a request shorter than its job");
  // The job's bytes, as the caller's thread copied them: a trivially copyable object comes
  // to life in storage of its own by a copy of its bytes.
  alignas(Job) unsigned char storage[sizeof(Job)];
  std::memcpy(storage, request, sizeof(Job));
  const Job& job = *std::launder(reinterpret_cast<const Job*>(storage));
  const char* at = request + sizeof(Job);
  const char* end = request + size;
  // Braced: the arguments decode in order.
  std::tuple<std::decay_t<Args>...> args{decode_one<std::decay_t<Args>>(at, end)...};
  if (at != end) throw JobError("ForkServer: a request longer than its job and arguments");
  using R = std::invoke_result_t<const Job&, const std::decay_t<Args>&...>;
  if constexpr (std::is_void_v<R>) {
    std::apply(job, std::as_const(args));
  } else {
    encode_into(reply, std::apply(job, std::as_const(args)));
  }
}
}  // namespace detail

/// Runs jobs for a program that has threads. Forking a process with other threads is
/// unsafe (a lock another thread holds at the fork is never released in the child), so a
/// Pool refuses to start a job in one (ThreadsError). A ForkServer, started before the
/// threads, is a copy of the process that stays single-threaded: each job runs in a fresh
/// process forked from it, with a Pool of its own, and its result comes back encoded.
///
///     int main() {
///       mapreduce::ForkServer jobs;  // first, while main is the only thread
///       start_logging_thread();
///       auto counts = jobs.run(
///           [](const std::vector<std::string>& paths) {
///             mapreduce::Pool pool;
///             const std::vector<std::filesystem::path> files(paths.begin(), paths.end());
///             return pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{files}, count_words,
///                                                                std::plus<>{});
///           },
///           paths);
///     }
///
/// What a job can use, and what it cannot:
/// - The job is a trivially copyable callable (a lambda that captures nothing, or only
///   plain values) and is copied byte for byte. Its arguments and result travel through
///   their Codecs. A pointer or reference it captures points into the server's copy of
///   memory, as it was when the server started: changes made since are not seen there.
/// - Its code must have been loaded when the server started (not dlopen()ed later).
/// - Each job costs a fork of the small server, and the encoding of its arguments and
///   result; several threads may run jobs at once, each in its own process.
/// - An exception the job throws is thrown by run() as the same mapreduce class (InputError,
///   OptionsError, JobError...), others as JobError; a job process that dies is a JobError.
///
/// The server ends with this object, or with the process; jobs still running end with it.
class ForkServer {
 public:
  /// Forks the server. Throws ThreadsError if this process already has other threads.
  ForkServer();
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  /// `job(args...)` in a process of its own, forked from the server; returns its result.
  /// Safe to call from several threads at once.
  template <class Job, class... Args>
  auto run(const Job& job, const Args&... args) -> std::decay_t<std::invoke_result_t<const Job&, const Args&...>> {
    static_assert(std::is_trivially_copyable_v<Job>,
                  "ForkServer::run: the job is copied to another process byte for byte: capture nothing, or "
                  "only plain values, and pass the rest as arguments");
    static_assert((Encodable<Args> && ...), "ForkServer::run: every argument needs a mapreduce::Codec");
    using R = std::decay_t<std::invoke_result_t<const Job&, const Args&...>>;
    static_assert(std::is_void_v<R> || Encodable<R>, "ForkServer::run: the job's result needs a mapreduce::Codec");
    std::string request(sizeof(Job), '\0');
    std::memcpy(request.data(), &job, sizeof(Job));
    detail::encode_into(request, args...);
    const std::string reply = detail::run_in_server(control_, send_lock_, &detail::run_job<Job, Args...>, request);
    if constexpr (!std::is_void_v<R>) {
      const char* at = reply.data();
      return detail::decode_one<std::decay_t<R>>(at, reply.data() + reply.size());
    }
  }

  /// The server's process id.
  [[nodiscard]] int pid() const noexcept { return pid_; }

 private:
  int control_ = -1;  // a SOCK_SEQPACKET socket to the server: one message per job
  int pid_ = -1;
  std::mutex send_lock_;
};

}  // namespace mapreduce
