// The fault ledger: pure bookkeeping, no system calls. See detail/task_ledger.hpp.
#include "mapreduce/detail/task_ledger.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

TaskLedger::TaskLedger(const LedgerLimits& limits, std::string label, std::function<std::string(std::size_t)> describe)
    : limits_(limits), label_(std::move(label)), describe_(std::move(describe)), attempts_(limits.tasks, 0),
      history_(limits.tasks), done_(limits.tasks, 0), released_(limits.window != 0 ? limits.tasks : 0, 0) {
  if (limits_.max_attempts == 0) throw OptionsError("max_attempts must be at least 1");
}

std::size_t TaskLedger::add_worker() {
  slots_.emplace_back();
  return slots_.size() - 1;
}

bool TaskLedger::window_open() const noexcept {
  if (limits_.window == 0) return true;
  if (limits_.ordered) return next_ < first_unreleased_ + limits_.window;
  return next_ - released_count_ < limits_.window;
}

Assignment TaskLedger::assign(std::size_t w) {
  Slot& s = slots_[w];
  s.waiting = false;
  const bool recycle = limits_.max_tasks_per_worker != 0 && s.tasks_run >= limits_.max_tasks_per_worker;
  if (work_left() && !recycle && (!retry_.empty() || window_open())) {
    if (!retry_.empty()) {
      s.task = retry_.front();
      retry_.pop_front();
    } else {
      s.task = next_++;
    }
    s.task_published = false;
    ++s.tasks_run;
    return {Assignment::run, s.task, attempts_[s.task] + 1};
  }
  s.task = no_task;
  if (work_left() && !recycle) {
    // The window is full: wait, with nothing to do, until the caller takes results.
    s.waiting = true;
    return {Assignment::wait, no_task, 0};
  }
  s.finishing = true;
  return {Assignment::finish, no_task, 0};
}

bool TaskLedger::task_done(std::size_t w) {
  Slot& s = slots_[w];
  if (s.task == no_task || s.task >= limits_.tasks) throw Error("worker channel: a task reported done was not running");
  if (!s.task_published) s.held.push_back(s.task);
  const bool first = done_[s.task] == 0;
  done_[s.task] = 1;
  return first;
}

void TaskLedger::stand_by(std::size_t w) noexcept {
  slots_[w].task = no_task;
  slots_[w].waiting = false;
}

void TaskLedger::published(std::size_t w) {
  // Everything the worker held, and the task it runs, is in that segment now.
  slots_[w].held.clear();
  slots_[w].task_published = true;
}

std::size_t TaskLedger::lost_task(std::size_t w) const noexcept {
  const Slot& s = slots_[w];
  if (s.finished || s.task == no_task || s.task_published) return no_task;
  return s.task;
}

unsigned TaskLedger::replacements_needed() const noexcept {
  if (!work_left()) return 0;
  unsigned busy = 0;
  for (const Slot& s : slots_) busy += !s.ended && !s.finishing ? 1 : 0;
  return busy < limits_.workers ? limits_.workers - busy : 0;
}

std::string TaskLedger::task_name(std::size_t task) const {
  return task == no_task ? std::string("while finishing") : "task " + describe_(task);
}

void TaskLedger::failed_attempt(std::size_t task, const std::string& cause) {
  const unsigned n = ++attempts_[task];
  history_[task] += fmt::format("{}attempt {}: {}", n > 1 ? "; " : "", n, cause);
  if (n >= limits_.max_attempts) {
    if (limits_.max_attempts == 1) throw JobError(fmt::format("{} {}: {}", label_, task_name(task), cause));
    throw JobError(fmt::format("{} {} failed {} times: {}", label_, task_name(task), n, history_[task]));
  }
  ++retries_;
  retry_.push_back(task);
}

void TaskLedger::worker_ended(std::size_t w, const std::function<void(std::size_t)>& explain, const WorkerEnd& end) {
  Slot& s = slots_[w];
  s.ended = true;
  s.waiting = false;
  if (s.finished && end.clean) return;
  // A ceiling on deaths that no task is charged for (idle workers killed from outside, over
  // and over): the phase must end rather than replace workers forever.
  if (++deaths_ > limits_.max_attempts * std::max<std::size_t>(limits_.tasks, 1) + limits_.workers) {
    throw JobError(fmt::format("{}: workers keep dying ({} so far), the last one {}", label_, deaths_, end.status));
  }
  if (const std::size_t t = lost_task(w); t != no_task) {
    if (explain) explain(t);
    failed_attempt(t, end.cause);
  }
  // Tasks it had finished but not yet published are lost with it. If it died writing them
  // out, they count as failed; if it died idle, they simply run again.
  for (const std::size_t t : std::exchange(s.held, {})) {
    if (s.finishing) {
      failed_attempt(t, end.cause);
    } else {
      retry_.push_back(t);
    }
  }
  s.task = no_task;
}

void TaskLedger::release(std::size_t task) {
  if (task < released_.size() && released_[task] == 0) {
    released_[task] = 1;
    ++released_count_;
    while (first_unreleased_ < limits_.tasks && released_[first_unreleased_] != 0) ++first_unreleased_;
  }
}

}  // namespace mapreduce::detail
