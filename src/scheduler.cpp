// The parent's side of one phase: forks the workers, waits on them in one poll loop, and
// carries out what the fault ledger decides. See detail/phase.hpp.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "channel.hpp"
#include "child_process.hpp"
#include "control_block.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/detail/task_ledger.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/interrupt.hpp"
#include "mapreduce/wait_status.hpp"
#include "output_relay.hpp"
#include "worker_fork.hpp"
#include "worker_loop.hpp"

namespace mapreduce::detail {

using Clock = std::chrono::steady_clock;

// A worker process as its phase's Scheduler sees it (and a WorkerHandoff keeps it).
struct Worker {
  ChildProcess process;
  UniqueFd socket;
  UniqueFd pidfd;            // readable once it has ended (when the kernel has pidfd_open)
  std::size_t slot = 0;      // its slot in the ledger
  std::size_t seat = 0;      // its board in the control block (seats() when none)
  unsigned id = 0;           // 1, 2...: for the prefix of its output lines
  OutputPipe output[2];      // its stdout and stderr, unless inherited
  std::size_t reserved = 0;  // shared memory granted but not yet published
  std::string failure;       // why it is going away, when the parent knows better than waitpid
  Clock::time_point deadline = Clock::time_point::max();
};

struct WorkerHandoff::State {
  explicit State(unsigned workers) : control(2 * std::size_t(workers) + 1) {}
  // Between the phases no Scheduler holds SIGCHLD at its default: a host that ignores it
  // would have the kernel reap a waiting worker that ends.
  DefaultSigchld sigchld;
  ControlBlock control;        // the boards of both phases: a worker keeps its seat
  std::deque<Worker> waiting;  // finished the first phase, waiting for the next
};

WorkerHandoff::WorkerHandoff(unsigned workers, const char* next, MakeWork make_next)
    : state_(std::make_unique<State>(workers)), next_(next), make_next_(std::move(make_next)) {}

// A worker still waiting has published all it had: killing it loses nothing.
WorkerHandoff::~WorkerHandoff() = default;

class Scheduler {
 public:
  Scheduler(std::size_t tasks, PhaseWork& work, const PhaseConfig& config)
      : gate_(config.name, config.host_threads_fork_safe), work_(work), config_(config),
        label_(config.job.empty() ? std::string(config.name) : config.job + ": " + config.name),
        ledger_(LedgerLimits{tasks, config.workers, config.max_attempts, config.max_tasks_per_worker, config.window,
                             config.ordered},
                label_, [&work](std::size_t t) { return work.describe_task(t); }),
        relay_(config.output, config.name),
        // Created before any fork, so every worker inherits it (a handoff's was created before
        // the first phase's). Seats for the workers at once, and as many again for those
        // finishing while their replacements start.
        own_control_(handoff() != nullptr ? nullptr
                                          : std::make_unique<ControlBlock>(2 * std::size_t(config.workers) + 1)),
        control_(handoff() != nullptr ? handoff()->state_->control : *own_control_), shm_used_(config.shm_in_use),
        parent_(::getpid()), started_(Clock::now()) {}

  void start() {
    work_.descriptors(keep_);
    SharedDescriptors::all(keep_);
    if (config_.keep_descriptors != nullptr) {
      keep_.insert(keep_.end(), config_.keep_descriptors->begin(), config_.keep_descriptors->end());
    }
    for (const int fd : keep_) note_descriptor(fd);
    if (reporting()) {
      for (std::size_t t = 0; t < ledger_.tasks(); ++t) bytes_total_ += work_.task_bytes(t);
      report();
    }
    const auto n = static_cast<unsigned>(std::min<std::size_t>(config_.workers, ledger_.tasks()));
    unsigned started = 0;
    if (config_.take_over != nullptr) {
      std::deque<Worker> waiting = std::exchange(config_.take_over->state_->waiting, {});
      std::vector<int> inputs;
      work_.descriptors(inputs);
      for (Worker& w : waiting) {
        // One that died while it waited is reaped here, and one more than the tasks ends
        // here: idle, and holding nothing. Each leaves its seat.
        if (started < n && !has_ended(w)) {
          take_over(std::move(w), inputs);
          ++started;
        } else {
          free_seat(w);
          w.process.terminate();
        }
      }
    }
    for (unsigned i = started; i < n; ++i) spawn();
  }

  PhaseOutcome run() {
    start();
    while (step()) {  // each step leaves out_.retries up to date
    }
    out_.small = std::exchange(small_, {});
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
        if (running(w) && w.deadline != Clock::time_point::max()) w.deadline += away;
      }
    }
    // Segments arrive as descriptors: the limit on them rises before a receive could fail.
    ensure_descriptor_headroom(highest_fd_, 16 + 8 * static_cast<int>(live_));
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
        // Its end, seen even when another process holds a copy of its socket (a process
        // the worker forked), which would keep EOF from ever coming.
        if (w.pidfd) {
          fds_.push_back(pollfd{w.pidfd.get(), POLLIN, 0});
          polled_.push_back(Polled{&w, nullptr, true});
        }
      }
    }
    bool unwatched = false;  // a worker without a pidfd (a kernel before 5.3, a seccomp filter)
    for (const auto& w : workers_) unwatched |= w.socket && !w.pidfd;
    int timeout = poll_timeout_ms();
    if (unwatched) timeout = timeout < 0 ? 100 : std::min(timeout, 100);
    if (::poll(fds_.data(), fds_.size(), timeout) < 0) {
      if (errno == EINTR) return true;
      throw Error(fmt::format("poll: {}", std::strerror(errno)));
    }
    woke_ns_ = steady_ns();  // a death seen in this step happened before now
    // An interrupt wins over whatever else happened: the workers may be dying of it too.
    if (interrupt >= 0 && fds_[0].revents != 0) throw Interrupted(take_interrupt());
    // Messages first: a task that finished just before its deadline must count as done.
    const std::size_t base = interrupt >= 0 ? 1 : 0;
    for (std::size_t k = 0; k < polled_.size(); ++k) {
      if (fds_[base + k].revents == 0) continue;
      Worker& w = *polled_[k].worker;
      if (polled_[k].exited) {
        if (w.socket) drain_and_end(w);
      } else if (polled_[k].pipe != nullptr) {
        if (polled_[k].pipe->fd) relay_.forward(*polled_[k].pipe, source(w));
      } else if (w.socket) {
        // What the worker wrote before this message is in its pipes by now, whether or not
        // this poll saw it: pass it on while its task is still the one in the prefix. (Only
        // the prefix needs it: unprefixed lines are read when poll reports them, and a
        // message per task need not cost two more reads.)
        if (relay_.prefixed()) {
          for (auto& o : w.output) {
            if (o.fd) relay_.forward(o, source(w));
          }
        }
        handle(w, *msg_);
      }
    }
    if (unwatched) {
      // Without a pidfd, whether each has ended is asked of waitid, leaving it unreaped.
      for (auto& w : workers_) {
        if (!w.socket || w.pidfd) continue;
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(w.process.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == w.process.pid()) {
          drain_and_end(w);
        }
      }
    }
    kill_overdue();
    wake_waiting();
    // Asked again after each spawn: the new worker may have taken the last task.
    while (ledger_.replacements_needed() > 0) spawn();
    stepped_ = true;
    last_step_ = Clock::now();
    out_.retries = ledger_.retries();
    return live_ > 0;
  }

  std::vector<Published> take_published() { return std::exchange(out_.published, {}); }
  std::vector<SmallResult> take_small() { return std::exchange(small_, {}); }

  void release(std::size_t task, std::uint64_t shm_bytes) {
    shm_used_ -= std::min<std::size_t>(shm_used_, shm_bytes);
    ledger_.release(task);
    wake_waiting();
  }

 private:
  struct Polled {
    Worker* worker;
    OutputPipe* pipe;     // null: the worker's socket, or its pidfd
    bool exited = false;  // its pidfd
  };

  void note_descriptor(int fd) noexcept { highest_fd_ = std::max(highest_fd_, fd); }

  // The worker has ended (its pidfd says so): what it sent before is still in its socket,
  // and is handled first; then it is reaped, whether or not EOF ever comes.
  void drain_and_end(Worker& w) {
    UniqueFd received;
    for (;;) {
      ensure_descriptor_headroom(highest_fd_, 16 + 8 * static_cast<int>(live_));
      const Receive r = try_recv_message(w.socket.get(), *msg_, &received);
      if (r != Receive::message) break;
      dispatch(w, *msg_, received);
      if (!w.socket) return;
    }
    ended(w);
  }

  bool running(const Worker& w) const noexcept { return w.socket && ledger_.task_of(w.slot) != no_task; }
  LineSource source(const Worker& w) const noexcept { return {w.id, ledger_.task_of(w.slot)}; }

  bool reporting() const noexcept { return config_.progress != nullptr && *config_.progress; }
  void report() {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    (*config_.progress)(Progress{config_.name, tasks_done_, ledger_.tasks(), bytes_done_, bytes_total_, seconds});
  }

  void spawn() {
    const std::size_t seat = control_.take_seat();
    SeatRelease seat_guard{control_, seat};  // back if the fork or what follows throws
    WorkerBoard* board = seat < control_.seats() ? &control_.board(seat) : nullptr;
    ensure_descriptor_headroom(highest_fd_, 16 + 8 * static_cast<int>(live_));
    // Asked at the first fork (a query per signal): a phase that takes over its workers may fork none.
    if (!signals_) signals_ = signals_to_reset();
    ForkedWorker forked = fork_worker(
        config_.output != WorkerOutput::inherit, keep_, *signals_,
        [this, board](int channel) { worker_main(channel, work_, config_, parent_, board); });
    Worker& w = workers_.emplace_back();
    w.process = std::move(forked.process);
    w.socket = std::move(forked.socket);
    w.pidfd = std::move(forked.pidfd);
    note_descriptor(w.socket.get());
    note_descriptor(w.pidfd.get());
    w.slot = ledger_.add_worker();
    w.seat = std::exchange(seat_guard.seat, control_.seats());
    ++out_.workers;
    w.id = ++ids_;
    for (int i = 0; i < 2; ++i) {
      if (!forked.output[i]) continue;
      w.output[i].fd = std::move(forked.output[i]);
      w.output[i].target = i + 1;
      note_descriptor(w.output[i].fd.get());
    }
    ++live_;
    assign(w);
  }

  // A worker that finished the previous phase of the job starts this one: it gets this
  // phase's inputs (`inputs`: the descriptors of work_.descriptors(), in that order), then
  // its first task. One that dies before it reads them is found ended by the next poll,
  // and its first task runs again, as for any death in a task.
  void take_over(Worker&& waiting, const std::vector<int>& inputs) {
    Worker& w = workers_.emplace_back(std::move(waiting));
    w.slot = ledger_.add_worker();
    w.id = ++ids_;
    w.deadline = Clock::time_point::max();
    note_descriptor(w.socket.get());
    note_descriptor(w.pidfd.get());
    for (const auto& o : w.output) note_descriptor(o.fd.get());
    ++live_;
    ++out_.taken_over;
    bool sent = true;
    for (std::size_t i = 0; i < inputs.size() && sent; ++i) {
      sent = send_message(w.socket.get(), Kind::run_set, i, 0, {}, inputs[i]);
    }
    if (sent && send_message(w.socket.get(), Kind::next, inputs.size(), 0)) assign(w);
  }

  // Whether a worker has ended, without reaping it.
  static bool has_ended(const Worker& w) noexcept {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(w.process.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == w.process.pid();
  }

  // A worker that finished this phase cleanly waits in the handoff for the next one. What
  // it printed in this phase is passed on first (it flushed before it said `finished`), a
  // last line without a newline too, as when a worker exits.
  void hand_on(Worker& w) {
    for (auto& o : w.output) relay_.end_of_phase(o, source(w));
    ledger_.worker_ended(w.slot, WorkerEnd{true, {}, {}});  // a clean end after `finished` costs nothing
    shm_used_ -= std::min(shm_used_, w.reserved);
    w.reserved = 0;
    config_.hand_on->state_->waiting.push_back(std::move(w));  // w keeps nothing: it is no longer polled
    --live_;
  }

  [[nodiscard]] WorkerHandoff* handoff() const noexcept {
    return config_.hand_on != nullptr ? config_.hand_on : config_.take_over;
  }

  // Waiting workers take the tasks the window now allows, and retries.
  void wake_waiting() {
    for (auto& w : workers_) {
      if (w.socket && ledger_.waiting(w.slot) && ledger_.can_wake()) assign(w);
    }
  }

  void assign(Worker& w) {
    const Assignment a = ledger_.assign(w.slot);
    w.deadline = Clock::time_point::max();
    switch (a.kind) {
      case Assignment::run:
        if (config_.task_timeout > 0 && config_.task_timeout < 1e9) {
          w.deadline = Clock::now() +
                       std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(config_.task_timeout));
        }
        send_message(w.socket.get(), Kind::task, a.task, a.attempt);
        break;
      case Assignment::wait: break;
      case Assignment::finish: send_message(w.socket.get(), Kind::finish, 0, 0); break;
    }
  }

  int poll_timeout_ms() const {
    Clock::time_point first = Clock::time_point::max();
    for (const auto& w : workers_) {
      if (running(w)) first = std::min(first, w.deadline);
    }
    if (first == Clock::time_point::max()) return -1;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(ms + 1, 0, 60000));
  }

  void kill_overdue() {
    const auto now = Clock::now();
    for (auto& w : workers_) {
      if (running(w) && w.deadline <= now && w.failure.empty()) {
        w.failure = fmt::format("worker process {} was killed after the task ran past its {} s timeout",
                                w.process.pid(), config_.task_timeout);
        ::kill(w.process.pid(), SIGKILL);
      }
    }
  }

  void handle(Worker& w, Message& msg) {
    UniqueFd received;
    if (!recv_message(w.socket.get(), msg, &received)) {
      ended(w);
      return;
    }
    dispatch(w, msg, received);
  }

  void dispatch(Worker& w, Message& msg, UniqueFd& received) {
    if (received) note_descriptor(received.get());
    switch (msg.h.kind) {
      case Kind::done: {
        out_.records += msg.h.b;
        const std::size_t task = ledger_.task_of(w.slot);
        if (ledger_.task_done(w.slot) && reporting()) {  // a task that ran again is counted once
          ++tasks_done_;
          bytes_done_ += work_.task_bytes(task);
          report();
        }
        if (!w.failure.empty()) {  // being killed: it gets no new task, its EOF comes next
          ledger_.stand_by(w.slot);
          break;
        }
        assign(w);
        break;
      }
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
        ledger_.published(w.slot);
        break;
      }
      case Kind::failed:
        if (msg.h.c == 1) throw InputError(std::string(msg.body()));
        if (msg.h.c == 2 && msg.h.a != no_task) {
          // Past the worker memory limit: an attempt like a crash, counted apart.
          ++out_.memory_failures;
          w.failure = std::string(msg.body());  // the worker exits next; ended() retries
          break;
        }
        if (config_.retry_exceptions && msg.h.a != no_task) {
          w.failure = std::string(msg.body());  // the worker exits next; ended() retries
        } else {
          throw JobError(fmt::format("{} {}: {}", label_, ledger_.task_name(msg.h.a), msg.body()));
        }
        break;
      case Kind::finished:
        out_.records += msg.h.b;
        ledger_.finished(w.slot);
        // Kept for the next phase unless it is being killed or recycled (a process that ran
        // its max_tasks_per_worker is to be replaced), and never more than the phase runs.
        if (config_.hand_on != nullptr && w.failure.empty() && !ledger_.recycled(w.slot) &&
            config_.hand_on->state_->waiting.size() < config_.workers) {
          hand_on(w);  // keeps its seat: it writes its board in the next phase
          break;
        }
        // It waits for the next phase: tell it there is none for it, and it exits.
        if (config_.hand_on != nullptr) send_message(w.socket.get(), Kind::finish, 0, 0);
        free_seat(w);  // it writes its board no more: a replacement may have the seat
        break;
      case Kind::small:
        small_.push_back(SmallResult{msg.h.a, std::string(msg.body())});
        ledger_.published(w.slot);
        break;
      default: throw Error("worker channel: unexpected message");
    }
  }

  void free_seat(Worker& w) noexcept {
    control_.free_seat(w.seat);
    w.seat = control_.seats();
  }

  // Gives a seat back if a spawn throws before a Worker holds it.
  struct SeatRelease {
    ControlBlock& control;
    std::size_t seat;
    ~SeatRelease() { control.free_seat(seat); }
  };

  // The worker's socket reached EOF: it has exited, normally after `finished`, or it died.
  void ended(Worker& w) {
    const pid_t pid = w.process.pid();
    const int status = w.process.wait();
    w.socket.reset();
    w.pidfd.reset();
    // What it wrote before it ended is in its pipes now; a process it started may still
    // hold them open, so read what is there and stop at that.
    for (auto& o : w.output) relay_.drain(o, source(w));
    --live_;
    shm_used_ -= std::min(shm_used_, w.reserved);  // granted, never published: gone with the worker
    w.reserved = 0;
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // A dying worker sends no message; its board says whether it died inside a task, and
    // how far into it: a crash at once (bad input, a bad build) reads differently from one
    // after minutes (memory, a leak).
    std::string when;
    if (w.seat < control_.seats()) {
      const WorkerBoard& board = control_.board(w.seat);
      if (!clean && board.task.load(std::memory_order_acquire) != 0) {
        const auto ns = std::max<std::int64_t>(0, woke_ns_ - board.started_ns.load(std::memory_order_relaxed));
        when = fmt::format(" {:.2f} s into the task", static_cast<double>(ns) / 1e9);
      }
    }
    free_seat(w);
    // A mapped input file that shrank kills its reader with SIGBUS: that is the input's fault,
    // unless workers keep dying anyway (the ledger asks only below its ceiling).
    const bool signaled = WIFSIGNALED(status) && w.failure.empty();
    ledger_.worker_ended(
        w.slot,
        [&](std::size_t lost) {
          if (signaled) work_.diagnose_crash(lost);
        },
        WorkerEnd{clean,
                  !w.failure.empty() ? w.failure
                                     : fmt::format("worker process {} {}{}", pid, describe_wait_status(status), when),
                  describe_wait_status(status)});
  }

  [[no_unique_address]] ForkGate gate_;  // first: checked before anything else is made (the job holds one too)
  DefaultSigchld sigchld_;               // in force before any worker is forked, until all are reaped
  [[no_unique_address]] DescriptorLimitScope descriptor_limit_;
  PhaseWork& work_;
  const PhaseConfig& config_;
  std::string label_;  // "map", or "count words: map" for a named job
  TaskLedger ledger_;
  OutputRelay relay_;
  std::unique_ptr<ControlBlock> own_control_;  // none when a handoff holds the job's
  ControlBlock& control_;
  std::size_t shm_used_;
  pid_t parent_;
  std::size_t tasks_done_ = 0;
  std::uint64_t bytes_done_ = 0, bytes_total_ = 0;
  Clock::time_point started_;
  std::deque<Worker> workers_;  // a deque: spawning never moves a Worker
  unsigned live_ = 0;
  unsigned ids_ = 0;  // the workers' ids: forked or taken over
  PhaseOutcome out_;
  std::unique_ptr<Message> msg_ = std::make_unique<Message>();
  std::vector<pollfd> fds_;
  std::vector<Polled> polled_;
  std::vector<SmallResult> small_;  // results that came in messages (WorkerLink::publish_small)
  bool stepped_ = false;
  Clock::time_point last_step_{};
  std::int64_t woke_ns_ = 0;                 // when the last poll returned (steady_ns)
  std::vector<int> keep_;                    // the descriptors a worker keeps besides its own
  std::optional<std::vector<int>> signals_;  // those a worker resets (signals_to_reset)
  int highest_fd_ = 2;
};

namespace {
std::mutex shared_descriptors_mutex;
std::vector<int> shared_descriptors;  // as registered, with repeats for descriptors held twice
}  // namespace

SharedDescriptors::SharedDescriptors(std::vector<int> fds) : fds_(std::move(fds)) {
  const std::lock_guard lock(shared_descriptors_mutex);
  shared_descriptors.insert(shared_descriptors.end(), fds_.begin(), fds_.end());
}

SharedDescriptors& SharedDescriptors::operator=(SharedDescriptors&& o) noexcept {
  if (this != &o) {
    unregister();
    fds_ = std::exchange(o.fds_, {});
  }
  return *this;
}

SharedDescriptors::~SharedDescriptors() { unregister(); }

void SharedDescriptors::unregister() noexcept {
  const std::lock_guard lock(shared_descriptors_mutex);
  for (const int fd : fds_) {
    const auto it = std::find(shared_descriptors.begin(), shared_descriptors.end(), fd);
    if (it != shared_descriptors.end()) shared_descriptors.erase(it);
  }
  fds_.clear();
}

void SharedDescriptors::all(std::vector<int>& keep) {
  const std::lock_guard lock(shared_descriptors_mutex);
  keep.insert(keep.end(), shared_descriptors.begin(), shared_descriptors.end());
}

namespace {
std::mutex fork_gate_mutex;
std::thread::id fork_gate_owner;
unsigned fork_gate_depth = 0;
}  // namespace

ForkGate::ForkGate(const char* what, bool host_threads_fork_safe) {
  if (!host_threads_fork_safe) {
    const unsigned threads = count_threads();
    if (threads > 1) {
      throw ThreadsError(fmt::format(
          "cannot start {}: this process has {} threads, and a worker forked now could wait forever on a lock one of "
          "them holds; start a mapreduce::ForkServer before the threads and run the job through it, or set "
          "PoolOptions::host_threads_fork_safe if the workers never take a lock those threads use",
          what, threads));
    }
  }
  const std::lock_guard lock(fork_gate_mutex);
  // The same thread may nest (a job while its imap stream lives): its workers close what
  // they inherit of the other's. Another thread's job would fork beside this one's.
  if (fork_gate_depth != 0 && fork_gate_owner != std::this_thread::get_id()) {
    throw ThreadsError(
        fmt::format("cannot start {}: another thread of this process is running a job, and a process "
                    "runs its jobs one thread at a time; run concurrent jobs through a "
                    "mapreduce::ForkServer, where each gets a process of its own",
                    what));
  }
  fork_gate_owner = std::this_thread::get_id();
  ++fork_gate_depth;
}

ForkGate::~ForkGate() {
  const std::lock_guard lock(fork_gate_mutex);
  if (--fork_gate_depth == 0) fork_gate_owner = std::thread::id();
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
