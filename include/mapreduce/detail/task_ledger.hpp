#pragma once
// The fault ledger of one phase: which worker holds which tasks, how many attempts each task
// has used and why they failed, what runs next, and what a worker's end costs. It makes no
// system call, so every branch (a worker dying while it publishes, dying idle, the ceiling on
// deaths, a task out of attempts, a timeout) is unit-tested on its own (tests/task_ledger_test),
// and the scheduler that owns the processes (src/scheduler.cpp) only carries out its answers.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace mapreduce::detail {

inline constexpr std::size_t no_task = ~std::size_t(0);

struct LedgerLimits {
  std::size_t tasks = 0;
  unsigned workers = 1;               // processes at once; replacements keep it there
  unsigned max_attempts = 4;          // runs of one task before the phase fails
  unsigned max_tasks_per_worker = 0;  // recycle a worker after this many tasks; 0: never
  // Results as they come (imap): at most `window` tasks started and not yet released;
  // `ordered`: counted from the first task not released. 0: no window.
  std::size_t window = 0;
  bool ordered = false;
};

// What a worker is told to do next.
struct Assignment {
  enum Kind { run, wait, finish } kind = finish;
  std::size_t task = no_task;  // for `run`
  unsigned attempt = 0;        // for `run`: 1 for the first
};

// How a worker ended, as the scheduler saw it.
struct WorkerEnd {
  bool clean = false;  // exited with status 0
  std::string cause;   // "worker process 42 was killed by signal 9 (SIGKILL)", or why it was killed
  std::string status;  // the wait status alone, in words, for the ceiling's message
};

class TaskLedger {
 public:
  // `label` starts every error ("map", "count words: reduce"); `describe` names a task
  // ("words.txt bytes 0-1048576").
  TaskLedger(const LedgerLimits& limits, std::string label, std::function<std::string(std::size_t)> describe);

  // A new worker's slot; slots are never reused, so an index names one process for good.
  std::size_t add_worker();

  // The next thing worker `w` should do: a task (retries first), waiting for the window
  // (imap), or finishing (no work left, or it is due for recycling).
  Assignment assign(std::size_t w);
  // Worker `w` reported its task done. True the first time that task is done (a task that
  // ran again counts once, for progress). Its output stays held in the worker until published.
  bool task_done(std::size_t w);
  // Worker `w` will get no new task: it is being killed, and its end comes next.
  void stand_by(std::size_t w) noexcept;
  // Worker `w` handed its output to the parent: what it held, and its current task, are safe.
  void published(std::size_t w);
  // Worker `w` said it has published everything and is exiting.
  void finished(std::size_t w) noexcept { slots_[w].finished = true; }
  // Whether worker `w` ran its max_tasks_per_worker: it is to be replaced by a new process,
  // not kept for more work (a WorkerHandoff's next phase).
  [[nodiscard]] bool recycled(std::size_t w) const noexcept {
    return limits_.max_tasks_per_worker != 0 && slots_[w].tasks_run >= limits_.max_tasks_per_worker;
  }

  // The task worker `w` was running when it ended and whose output is lost with it, if any:
  // the scheduler may ask the input whether it explains a crash before calling worker_ended.
  [[nodiscard]] std::size_t lost_task(std::size_t w) const noexcept;
  // Charges worker `w`'s end. A clean exit after `finished` costs nothing. Otherwise the task
  // it ran costs an attempt, and so do the tasks it held if it died while publishing them
  // (after `finish`); tasks it held while idle simply run again. Throws JobError when a task
  // has used all its attempts, or when workers keep dying past the ceiling. Below the
  // ceiling, `explain(task)` is called first for the task lost with the worker, if any: it
  // may throw (an InputError when the input explains a crash).
  void worker_ended(std::size_t w, const std::function<void(std::size_t)>& explain, const WorkerEnd& end);
  void worker_ended(std::size_t w, const WorkerEnd& end) { worker_ended(w, {}, end); }

  // The caller took `task`'s result (imap): the window moves on.
  void release(std::size_t task);

  [[nodiscard]] bool work_left() const noexcept { return !retry_.empty() || next_ < limits_.tasks; }
  // Whether a waiting worker would now get something to do (a task or `finish`).
  [[nodiscard]] bool can_wake() const noexcept {
    return !retry_.empty() || (next_ < limits_.tasks && window_open()) || !work_left();
  }
  [[nodiscard]] bool waiting(std::size_t w) const noexcept { return slots_[w].waiting; }
  // Workers to start so that `workers` live ones, not finishing, have work.
  [[nodiscard]] unsigned replacements_needed() const noexcept;
  [[nodiscard]] std::size_t task_of(std::size_t w) const noexcept { return slots_[w].task; }
  [[nodiscard]] unsigned attempts(std::size_t task) const noexcept { return attempts_[task]; }
  [[nodiscard]] const std::string& history(std::size_t task) const noexcept { return history_[task]; }
  [[nodiscard]] unsigned retries() const noexcept { return retries_; }
  [[nodiscard]] unsigned deaths() const noexcept { return deaths_; }
  [[nodiscard]] std::size_t tasks() const noexcept { return limits_.tasks; }
  // How errors name a task: "task words.txt bytes 0-1048576", or "while finishing" for no_task.
  [[nodiscard]] std::string task_name(std::size_t task) const;

 private:
  struct Slot {
    std::size_t task = no_task;     // the task it runs now
    bool task_published = false;    // that task's output is already in a published segment
    std::vector<std::size_t> held;  // tasks done whose output is still in its memory
    unsigned tasks_run = 0;
    bool waiting = false;    // for the window to move (imap)
    bool finishing = false;  // told to finish
    bool finished = false;   // said it finished
    bool ended = false;
  };

  [[nodiscard]] bool window_open() const noexcept;
  void failed_attempt(std::size_t task, const std::string& cause);

  LedgerLimits limits_;
  std::string label_;
  std::function<std::string(std::size_t)> describe_;
  std::vector<Slot> slots_;
  std::vector<unsigned> attempts_;
  std::vector<std::string> history_;
  std::vector<char> done_;
  std::deque<std::size_t> retry_;
  std::size_t next_ = 0;
  std::vector<char> released_;
  std::size_t released_count_ = 0, first_unreleased_ = 0;
  unsigned retries_ = 0;
  unsigned deaths_ = 0;
};

}  // namespace mapreduce::detail
