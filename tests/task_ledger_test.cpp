// The fault ledger, branch by branch, with no process in sight: each case plays the messages
// a scheduler would see and checks what the ledger answers.
#include <catch2/catch.hpp>

#include <string>

#include <mapreduce/detail/task_ledger.hpp>
#include <mapreduce/error.hpp>

using mapreduce::JobError;
using mapreduce::detail::Assignment;
using mapreduce::detail::LedgerLimits;
using mapreduce::detail::no_task;
using mapreduce::detail::TaskLedger;
using mapreduce::detail::WorkerEnd;

namespace {

TaskLedger make(LedgerLimits limits) {
  return TaskLedger(limits, "map", [](std::size_t t) { return "chunk " + std::to_string(t); });
}

WorkerEnd killed(const char* why = "worker process 7 was killed by signal 9 (SIGKILL)") {
  return WorkerEnd{false, why, "was killed by signal 9 (SIGKILL)"};
}
const WorkerEnd clean_exit{true, "worker process 7 exited with status 0", "exited with status 0"};

// Runs worker `w`'s current task to done and hands it the next assignment.
Assignment complete(TaskLedger& ledger, std::size_t w) {
  ledger.task_done(w);
  return ledger.assign(w);
}

}  // namespace

TEST_CASE("tasks go out in order, then each worker is told to finish") {
  auto ledger = make({.tasks = 3, .workers = 2});
  const auto a = ledger.add_worker(), b = ledger.add_worker();
  CHECK(ledger.assign(a).task == 0);
  const Assignment first_b = ledger.assign(b);
  CHECK(first_b.kind == Assignment::run);
  CHECK(first_b.task == 1);
  CHECK(first_b.attempt == 1);
  CHECK(complete(ledger, a).task == 2);
  CHECK(complete(ledger, b).kind == Assignment::finish);
  CHECK(complete(ledger, a).kind == Assignment::finish);
  CHECK_FALSE(ledger.work_left());
  CHECK(ledger.replacements_needed() == 0);
  ledger.published(a);
  ledger.published(b);
  ledger.finished(a);
  ledger.finished(b);
  ledger.worker_ended(a, clean_exit);
  ledger.worker_ended(b, clean_exit);
  CHECK(ledger.retries() == 0);
  CHECK(ledger.deaths() == 0);
}

TEST_CASE("a task done twice counts once for progress") {
  auto ledger = make({.tasks = 1, .workers = 1});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  CHECK(ledger.task_done(a));        // held, not published
  ledger.assign(a);                  // finish
  ledger.worker_ended(a, killed());  // dies while publishing: the held task fails an attempt
  const auto b = ledger.add_worker();
  CHECK(ledger.assign(b).task == 0);
  CHECK_FALSE(ledger.task_done(b));
}

TEST_CASE("a worker that dies running a task costs that task an attempt, and it runs again") {
  auto ledger = make({.tasks = 2, .workers = 1, .max_attempts = 3});
  const auto a = ledger.add_worker();
  ledger.assign(a);  // task 0
  CHECK(ledger.lost_task(a) == 0);
  ledger.worker_ended(a, killed());
  CHECK(ledger.attempts(0) == 1);
  CHECK(ledger.retries() == 1);
  CHECK(ledger.history(0) == "attempt 1: worker process 7 was killed by signal 9 (SIGKILL)");
  CHECK(ledger.replacements_needed() == 1);
  const auto b = ledger.add_worker();
  const Assignment retry = ledger.assign(b);
  CHECK(retry.task == 0);  // retries go before new tasks
  CHECK(retry.attempt == 2);
  CHECK(complete(ledger, b).task == 1);
}

TEST_CASE("a task that runs out of attempts fails the phase with its whole history") {
  auto ledger = make({.tasks = 1, .workers = 1, .max_attempts = 2});
  auto w = ledger.add_worker();
  ledger.assign(w);
  ledger.worker_ended(w, killed("first cause"));
  w = ledger.add_worker();
  CHECK(ledger.assign(w).attempt == 2);
  CHECK_THROWS_MATCHES(ledger.worker_ended(w, killed("second cause")), JobError,
                       Catch::Matchers::Message("map task chunk 0 failed 2 times: attempt 1: first cause; "
                                                "attempt 2: second cause"));
}

TEST_CASE("with one attempt, the first failure fails the phase and says only its cause") {
  auto ledger = make({.tasks = 1, .workers = 1, .max_attempts = 1});
  const auto w = ledger.add_worker();
  ledger.assign(w);
  CHECK_THROWS_MATCHES(ledger.worker_ended(w, killed("boom")), JobError,
                       Catch::Matchers::Message("map task chunk 0: boom"));
}

TEST_CASE("a timeout is charged as the scheduler words it") {
  auto ledger = make({.tasks = 1, .workers = 1, .max_attempts = 2});
  const auto w = ledger.add_worker();
  ledger.assign(w);
  ledger.worker_ended(w, killed("worker process 9 was killed after the task ran past its 1 s timeout"));
  CHECK(ledger.history(0) == "attempt 1: worker process 9 was killed after the task ran past its 1 s timeout");
  CHECK(ledger.attempts(0) == 1);
}

TEST_CASE("a worker that dies idle loses its held tasks without charging them") {
  auto ledger = make({.tasks = 3, .workers = 1});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  complete(ledger, a);  // task 0 held, task 1 running
  ledger.task_done(a);  // task 1 held too; no new assignment yet: idle between messages
  ledger.stand_by(a);
  CHECK(ledger.lost_task(a) == no_task);
  ledger.worker_ended(a, killed());
  CHECK(ledger.attempts(0) == 0);
  CHECK(ledger.attempts(1) == 0);
  CHECK(ledger.retries() == 0);
  const auto b = ledger.add_worker();
  CHECK(ledger.assign(b).task == 0);  // the lost tasks come back first, then the rest
  CHECK(complete(ledger, b).task == 1);
  CHECK(complete(ledger, b).task == 2);
}

TEST_CASE("a worker that dies while publishing charges every task it held") {
  auto ledger = make({.tasks = 2, .workers = 1, .max_attempts = 4});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  complete(ledger, a);
  CHECK(complete(ledger, a).kind == Assignment::finish);
  CHECK(ledger.lost_task(a) == no_task);
  ledger.worker_ended(a, killed());
  CHECK(ledger.attempts(0) == 1);
  CHECK(ledger.attempts(1) == 1);
  CHECK(ledger.retries() == 2);
}

TEST_CASE("published output is safe when its worker dies later") {
  auto ledger = make({.tasks = 2, .workers = 1});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  ledger.task_done(a);
  ledger.published(a);  // task 0 is in a segment the parent holds
  ledger.assign(a);     // task 1
  ledger.published(a);  // flushed mid-task: task 1's output so far, and task 0's, are out
  CHECK(ledger.lost_task(a) == no_task);
  ledger.worker_ended(a, killed());
  CHECK(ledger.attempts(0) == 0);
  CHECK(ledger.attempts(1) == 0);
  CHECK_FALSE(ledger.work_left());
}

TEST_CASE("a clean exit without 'finished' is a death") {
  auto ledger = make({.tasks = 1, .workers = 1});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  ledger.worker_ended(a, clean_exit);
  CHECK(ledger.deaths() == 1);
  CHECK(ledger.attempts(0) == 1);
}

TEST_CASE("workers that keep dying with nothing charged hit the ceiling") {
  // 2 tasks, 2 attempts, 1 worker: the ceiling is 2 * 2 + 1 deaths.
  auto ledger = make({.tasks = 2, .workers = 1, .max_attempts = 2});
  for (int i = 0; i < 5; ++i) {
    const auto w = ledger.add_worker();
    ledger.worker_ended(w, killed());  // killed before it was given anything
  }
  CHECK(ledger.deaths() == 5);
  const auto w = ledger.add_worker();
  CHECK_THROWS_MATCHES(ledger.worker_ended(w, killed()), JobError,
                       Catch::Matchers::Message("map: workers keep dying (6 so far), the last one was killed by "
                                                "signal 9 (SIGKILL)"));
}

TEST_CASE("a worker recycled after its quota is told to finish, and a replacement is wanted") {
  auto ledger = make({.tasks = 3, .workers = 1, .max_tasks_per_worker = 2});
  const auto a = ledger.add_worker();
  ledger.assign(a);
  complete(ledger, a);
  CHECK(complete(ledger, a).kind == Assignment::finish);
  CHECK(ledger.recycled(a));  // to be replaced, not kept for a next phase
  CHECK(ledger.replacements_needed() == 1);
  const auto b = ledger.add_worker();
  CHECK(ledger.assign(b).task == 2);
  CHECK(ledger.replacements_needed() == 0);
  CHECK(complete(ledger, b).kind == Assignment::finish);
  CHECK_FALSE(ledger.recycled(b));  // finished because the work ran out
  // Without a quota no worker is ever recycled.
  auto plain = make({.tasks = 1, .workers = 1});
  const auto c = plain.add_worker();
  plain.assign(c);
  CHECK(complete(plain, c).kind == Assignment::finish);
  CHECK_FALSE(plain.recycled(c));
}

TEST_CASE("an ordered window holds workers until the first result is released") {
  auto ledger = make({.tasks = 4, .workers = 2, .window = 2, .ordered = true});
  const auto a = ledger.add_worker(), b = ledger.add_worker();
  CHECK(ledger.assign(a).task == 0);
  CHECK(ledger.assign(b).task == 1);
  CHECK(complete(ledger, b).kind == Assignment::wait);
  CHECK(ledger.waiting(b));
  CHECK_FALSE(ledger.can_wake());
  ledger.release(1);  // out of order: task 0 still holds the window
  CHECK_FALSE(ledger.can_wake());
  ledger.release(0);
  CHECK(ledger.can_wake());
  CHECK(ledger.assign(b).task == 2);
  CHECK_FALSE(ledger.waiting(b));
}

TEST_CASE("an unordered window counts results released in any order") {
  auto ledger = make({.tasks = 3, .workers = 1, .window = 1});
  const auto a = ledger.add_worker();
  CHECK(ledger.assign(a).task == 0);
  CHECK(complete(ledger, a).kind == Assignment::wait);
  ledger.release(0);
  CHECK(ledger.can_wake());
  CHECK(ledger.assign(a).task == 1);
}

TEST_CASE("a retry is not held back by the window") {
  auto ledger = make({.tasks = 3, .workers = 2, .window = 1, .ordered = true});
  const auto a = ledger.add_worker(), b = ledger.add_worker();
  CHECK(ledger.assign(a).task == 0);
  CHECK(ledger.assign(b).kind == Assignment::wait);
  ledger.worker_ended(a, killed());
  CHECK(ledger.can_wake());
  const Assignment retry = ledger.assign(b);
  CHECK(retry.task == 0);
  CHECK(retry.attempt == 2);
}

TEST_CASE("a retried task in the reduce phase is named as a partition") {
  TaskLedger ledger({.tasks = 4, .workers = 2, .max_attempts = 2}, "count: reduce",
                    [](std::size_t t) { return "partition " + std::to_string(t); });
  auto w = ledger.add_worker();
  ledger.assign(w);
  ledger.worker_ended(w, killed("x"));
  w = ledger.add_worker();
  CHECK(ledger.assign(w).task == 0);
  CHECK_THROWS_MATCHES(ledger.worker_ended(w, killed("y")), JobError,
                       Catch::Matchers::Message("count: reduce task partition 0 failed 2 times: attempt 1: x; "
                                                "attempt 2: y"));
}

TEST_CASE("a task reported done that was not running is a protocol error") {
  auto ledger = make({.tasks = 1, .workers = 1});
  const auto a = ledger.add_worker();
  CHECK_THROWS_AS(ledger.task_done(a), mapreduce::Error);
}

TEST_CASE("max_attempts of zero is refused") {
  CHECK_THROWS_AS(make({.tasks = 1, .workers = 1, .max_attempts = 0}), mapreduce::OptionsError);
}

TEST_CASE("the input is asked to explain a lost task only below the ceiling on deaths") {
  auto ledger = make({.tasks = 1, .workers = 1, .max_attempts = 1});
  std::size_t asked = no_task;
  // Ceiling 1 * 1 + 1: the first death is below it and is explained.
  auto w = ledger.add_worker();
  ledger.assign(w);
  CHECK_THROWS_AS(ledger.worker_ended(
                      w,
                      [&](std::size_t t) {
                        asked = t;
                        throw mapreduce::InputError("words.txt shrank");
                      },
                      killed()),
                  mapreduce::InputError);
  CHECK(asked == 0);
  auto past = make({.tasks = 1, .workers = 1, .max_attempts = 1});
  for (int i = 0; i < 2; ++i) past.worker_ended(past.add_worker(), killed());
  w = past.add_worker();
  past.assign(w);
  asked = no_task;
  CHECK_THROWS_AS(past.worker_ended(
                      w, [&](std::size_t t) { asked = t; }, killed()),
                  JobError);
  CHECK(asked == no_task);
}
