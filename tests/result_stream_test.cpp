// Pool::imap and Pool::imap_unordered: results as they come, with a bound on how far the
// workers run ahead of the reader.
#include <mapreduce/mapreduce.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

TEST_CASE("imap yields f(item) in input order for any chunk and worker count", "[imap]") {
  test::LeakCheck leaks;
  const auto items = test::range<std::int64_t>(-300, 700);
  for (unsigned workers : {1u, 3u}) {
    for (std::size_t chunk : {0u, 1u, 7u, 5000u}) {
      INFO("workers " << workers << ", chunk " << chunk);
      mapreduce::Pool pool({.workers = workers});
      std::vector<std::int64_t> got;
      for (std::int64_t r : pool.imap([](std::int64_t x) { return x * x + 1; }, items, {.chunk = chunk})) {
        got.push_back(r);
      }
      REQUIRE(got.size() == items.size());
      for (std::size_t i = 0; i < items.size(); ++i) CHECK(got[i] == items[i] * items[i] + 1);
    }
  }
}

TEST_CASE("imap_unordered yields every result exactly once", "[imap]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 3});
  const auto items = test::range(0, 500);
  std::vector<std::string> got;
  for (auto& s : pool.imap_unordered([](int i) { return std::to_string(i) + "!"; }, items, {.chunk = 3})) {
    got.push_back(std::move(s));
  }
  std::vector<std::string> expected;
  for (int i : items) expected.push_back(std::to_string(i) + "!");
  std::sort(got.begin(), got.end());
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
}

TEST_CASE("imap takes temporaries and empty inputs, and next() reads it without iterators", "[imap]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  auto stream = pool.imap([](const std::string& s) { return s.size(); }, std::vector<std::string>{"a", "bcd", ""});
  CHECK(stream.next() == std::optional<std::size_t>(1));
  CHECK(stream.next() == std::optional<std::size_t>(3));
  CHECK(stream.next() == std::optional<std::size_t>(0));
  CHECK_FALSE(stream.next().has_value());
  std::size_t n = 0;
  for ([[maybe_unused]] int r : pool.imap([](int i) { return i; }, std::vector<int>{})) ++n;
  CHECK(n == 0);
}

// Every item records in a file that a worker started on it, so the test can count how far
// the workers got while the reader was elsewhere.
static std::size_t lines_in(const std::string& path) {
  std::ifstream in(path);
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

TEST_CASE("imap's workers stay within max_pending results of a slow reader", "[imap]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string log = (dir.path() / "started").string();
  for (const bool ordered : {true, false}) {
    INFO("ordered " << ordered);
    std::ofstream(log, std::ios::trunc).close();
    mapreduce::Pool pool({.workers = 2});
    auto f = [&log](int i) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
      const std::string line = std::to_string(i) + "\n";
      const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::close(fd);
      if (!written) throw std::runtime_error("cannot write " + log);
      return i;
    };
    const auto items = test::range(0, 200);
    const std::size_t max_pending = 6;
    std::size_t read = 0;
    auto stream = ordered ? pool.imap(f, items, {.max_pending = max_pending})
                          : pool.imap_unordered(f, items, {.max_pending = max_pending});
    for ([[maybe_unused]] int r : stream) {
      ++read;
      // A slow reader: without the bound the workers would finish all 200 items meanwhile.
      if (read == 1 || read == 100) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      CHECK(lines_in(log) <= read + max_pending);
    }
    CHECK(read == items.size());
    CHECK(lines_in(log) == items.size());
  }
}

TEST_CASE("a stream dropped half-way kills and reaps its workers", "[imap]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 3});
  const auto items = test::range(0, 10000);
  {
    auto stream = pool.imap([](int i) { return i * 2; }, items);
    int expected = 0;
    for (int r : stream) {
      CHECK(r == expected);
      expected += 2;
      if (expected == 20) break;
    }
    CHECK(test::children_of(::getpid()).size() == 3);
  }
  CHECK(test::children_of(::getpid()).empty());
}

TEST_CASE("imap runs a crashed task again, and reports an exception from f", "[imap]") {
  test::LeakCheck leaks;
  mapreduce::PoolOptions options;
  options.workers = 2;
  options.before_task = [](const mapreduce::TaskContext& t) {
    if (t.task == 7 && t.attempt == 1) ::raise(SIGKILL);
  };
  mapreduce::Pool pool(options);
  const auto items = test::range(0, 40);
  std::vector<int> got;
  for (int r : pool.imap([](int i) { return i + 1; }, items)) got.push_back(r);
  CHECK(got == test::range(1, 41));

  mapreduce::Pool plain({.workers = 2});
  const std::string error = test::job_error([&] {
    for ([[maybe_unused]] int r : plain.imap(
             [](int i) {
               if (i == 13) throw std::runtime_error("thirteen");
               return i;
             },
             items)) {
    }
  });
  CHECK_THAT(error, Catch::Contains("item 13") && Catch::Contains("thirteen"));
}

TEST_CASE("a slow reader does not push imap's tasks past their timeout", "[imap]") {
  // The workers finish each task at once, then wait on the parent, which is away with the
  // reader for longer than the timeout: that wait is not the task's.
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .max_attempts = 1, .task_timeout_seconds = 1});  // no second chance
  std::vector<int> got;
  for (int r : pool.imap([](int i) { return i * 3; }, test::range(0, 3), {.max_pending = 2})) {
    got.push_back(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  }
  CHECK(got == std::vector<int>{0, 3, 6});
}

TEST_CASE("imap's phase name appears in errors", "[imap]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  const std::string error = test::job_error([&] {
    for ([[maybe_unused]] int r : pool.imap(
             [](int i) {
               if (i == 2) throw std::runtime_error("no");
               return i;
             },
             test::range(0, 4), {.phase = "score"})) {
    }
  });
  CHECK_THAT(error, Catch::StartsWith("score task item 2"));
}

TEST_CASE("imap results of any size: in the message, in shared memory, or spilled", "[imap]") {
  test::LeakCheck leaks;
  const auto items = test::range(0, 60);
  auto make = [](int i) { return std::string(static_cast<std::size_t>(i) * 300, static_cast<char>('a' + i % 26)); };
  for (const std::size_t budget : {std::size_t(0), std::size_t(1)}) {  // default; 1 byte: every segment spills
    INFO("shm_budget " << budget);
    mapreduce::Pool pool({.workers = 2, .shm_budget = budget});
    std::size_t n = 0;
    for (const std::string& s : pool.imap(make, items, {.max_pending = 3})) {  // from 0 to 17700 bytes
      CHECK(s == make(static_cast<int>(n)));
      ++n;
    }
    CHECK(n == items.size());
  }
}
