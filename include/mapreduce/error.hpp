#pragma once
#include <stdexcept>
#include <string>

namespace mapreduce {

/// The base of every exception the library throws. Catch this one at `main`.
///
///     try { pool.map_reduce(...); }
///     catch (const mapreduce::Error& e) { std::fprintf(stderr, "%s\n", e.what()); return 1; }
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An input cannot be read as asked: a missing file, a directory, no permission...
/// The message names the input and the problem on one line.
class InputError : public Error {
 public:
  using Error::Error;
};

/// Options out of range (`workers` too large, `chunk_bytes` of zero...).
class OptionsError : public Error {
 public:
  using Error::Error;
};

/// A job could not complete: a task threw, a worker died, or shared memory ran out.
/// The message names the phase and the task (file and byte range, or item indices).
class JobError : public Error {
 public:
  using Error::Error;
};

/// A job was started in a process with other threads, where fork() could leave the
/// workers a lock that no thread will ever release. Start a ForkServer before the threads
/// and run the job through it, or see PoolOptions::host_threads_fork_safe.
class ThreadsError : public Error {
 public:
  using Error::Error;
};

/// A job stopped by SIGINT or SIGTERM while an InterruptGuard was in force. Its workers
/// are killed and reaped and its shared memory freed before this is thrown.
class Interrupted : public Error {
 public:
  explicit Interrupted(int signal);
  /// The signal that arrived: SIGINT or SIGTERM.
  [[nodiscard]] int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

}  // namespace mapreduce
