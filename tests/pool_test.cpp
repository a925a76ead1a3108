// Pool::map_reduce: results equal a single-process reference, whatever the workers and
// partitions; both kinds of reducer; errors name the task; nothing is left behind.
#include <mapreduce/mapreduce.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <ranges>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

auto word_mapper = [](std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
};

}  // namespace

TEST_CASE("word count equals the reference for any workers and partitions, in the same order", "[pool]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::vector<std::string> texts;
  std::vector<std::filesystem::path> files;
  for (std::uint64_t seed : {11, 12, 13}) {
    texts.push_back(test::random_text(seed, 150000));
    files.push_back(dir.write("in" + std::to_string(seed), texts.back()));
  }
  const auto expected = test::reference_counts(texts);
  std::vector<std::pair<std::string, std::uint64_t>> first;
  for (unsigned workers : {1u, 2u, 3u, 8u}) {
    for (unsigned partitions : {1u, 7u, 64u}) {
      INFO("workers " << workers << ", partitions " << partitions);
      mapreduce::Pool pool({.workers = workers, .partitions = partitions, .chunk_bytes = 16384});
      auto result = pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{files}, word_mapper,
                                                                std::plus<>{});
      CHECK(test::as_map(result) == expected);
      if (first.empty()) {
        first = result;
      } else {
        CHECK(result == first);  // identical output, order included
      }
      const auto& s = pool.last_stats();
      CHECK(s.distinct_keys == expected.size());
      CHECK(s.records == std::accumulate(expected.begin(), expected.end(), std::uint64_t(0),
                                         [](std::uint64_t a, const auto& kv) { return a + kv.second; }));
      CHECK(s.input_bytes == texts[0].size() + texts[1].size() + texts[2].size());
      CHECK(s.map_workers == std::min<unsigned>(workers, static_cast<unsigned>(s.map_tasks)));
      CHECK(s.shared_bytes > 0);
    }
  }
}

TEST_CASE("in-memory items with integer keys, on seeded random data", "[pool]") {
  test::LeakCheck leaks;
  std::mt19937_64 rng(5);
  std::vector<std::int64_t> items(50000);
  for (auto& x : items) x = static_cast<std::int64_t>(rng() % 1000000) - 500000;
  std::map<std::int32_t, std::int64_t> expected;
  for (auto x : items) expected[static_cast<std::int32_t>(x % 997)] += x;
  for (unsigned workers : {1u, 2u, 3u, 8u}) {
    for (unsigned partitions : {1u, 7u, 64u}) {
      mapreduce::Pool pool({.workers = workers, .partitions = partitions});
      auto result = pool.map_reduce<std::int32_t, std::int64_t>(
          items, [](std::int64_t x, auto& emit) { emit(static_cast<std::int32_t>(x % 997), x); }, std::plus<>{});
      std::map<std::int32_t, std::int64_t> got(result.begin(), result.end());
      CHECK(result.size() == expected.size());
      CHECK(got == expected);
    }
  }
}

TEST_CASE("a per-key reducer sees every value of its key exactly once, in input order", "[pool]") {
  test::LeakCheck leaks;
  const auto items = test::range(0, 20000);
  for (unsigned workers : {1u, 2u, 3u}) {
    mapreduce::Pool pool({.workers = workers, .partitions = 5, .items_per_task = 333});
    auto result = pool.map_reduce<std::uint32_t, std::int32_t>(
        items, [](int i, auto& emit) { emit(static_cast<std::uint32_t>(i % 37), i); },
        [](std::uint32_t, std::span<const std::int32_t> values) {
          return std::vector<std::int32_t>(values.begin(), values.end());
        });
    REQUIRE(result.size() == 37);
    for (const auto& [key, values] : result) {
      std::vector<std::int32_t> expected;
      for (int i = static_cast<int>(key); i < 20000; i += 37) expected.push_back(i);
      CHECK(values == expected);  // all of them, once each, in the order they were emitted
    }
  }
}

TEST_CASE("an inverted index: string keys, a generic per-key reducer", "[pool]") {
  test::LeakCheck leaks;
  const std::vector<std::string> docs{"the cat sat", "the dog", "a cat and a dog", ""};
  mapreduce::Pool pool({.workers = 2});
  auto index = pool.map_reduce<std::string, std::uint32_t>(
      test::range(std::size_t(0), docs.size()),
      [&](std::size_t d, auto& emit) {
        mapreduce::for_each_word(docs[d], [&](std::string_view w) { emit(w, static_cast<std::uint32_t>(d)); });
      },
      mapreduce::per_key([](auto, auto ids) {
        std::vector<std::uint32_t> v(ids.begin(), ids.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        return v;
      }));
  mapreduce::sort_by_key(index);
  using Entry = std::pair<std::string, std::vector<std::uint32_t>>;
  CHECK(index ==
        std::vector<Entry>{{"a", {2}}, {"and", {2}}, {"cat", {0, 2}}, {"dog", {1, 2}}, {"sat", {0}}, {"the", {0, 1}}});
}

TEST_CASE("an exception in a mapper fails the job with its type, message and task", "[pool][errors]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const auto file = dir.write("in.txt", "ok\nok\nbad\nok\n");
  mapreduce::Pool pool({.workers = 2, .chunk_bytes = 3});
  const std::string msg = test::job_error([&] {
    (void)pool.map_reduce<std::string, std::uint64_t>(
        mapreduce::FileInput{{file}},
        [](std::string_view chunk, auto& emit) {
          if (chunk.starts_with("bad")) throw std::invalid_argument("cannot map 'bad'");
          emit(chunk, 1);
        },
        std::plus<>{});
  });
  CHECK(msg == "map task " + file.string() + " bytes 6-9: std::invalid_argument: cannot map 'bad'");
}

TEST_CASE("a worker that keeps dying fails the job once the task has used its attempts", "[pool][errors]") {
  test::LeakCheck leaks;
  const std::vector<int> items{1, 2, 3, 4, 5, 6};
  mapreduce::Pool pool({.workers = 3, .items_per_task = 1, .max_attempts = 3});
  auto run = [&](int how) {
    return test::job_error([&] {
      (void)pool.map_reduce<int, int>(
          items,
          [how](int i, auto& emit) {
            if (i == 4 && how == 0) ::raise(SIGKILL);
            if (i == 4 && how == 1) ::_exit(3);
            emit(i, i);
          },
          std::plus<>{});
    });
  };
  const std::string killed = run(0);
  // Each death says how far into the task it came, from the worker's board in the control block.
  CHECK_THAT(killed, Catch::Matches("map task item 3 failed 3 times: attempt 1: worker process [0-9]+ was killed by "
                                    "signal 9 \\(SIGKILL\\) [0-9]+\\.[0-9]{2} s into the task; attempt 2: worker "
                                    "process [0-9]+ was killed by signal 9 \\(SIGKILL\\) [0-9]+\\.[0-9]{2} s into the "
                                    "task; attempt 3: worker process [0-9]+ was killed by signal 9 \\(SIGKILL\\) "
                                    "[0-9]+\\.[0-9]{2} s into the task"));
  const std::string exited = run(1);
  CHECK_THAT(exited, Catch::Matches("map task item 3 failed 3 times: attempt 1: worker process [0-9]+ exited with "
                                    "status 3 [0-9]+\\.[0-9]{2} s into the task; attempt 2: .*; attempt 3: worker "
                                    "process [0-9]+ exited with status 3 [0-9]+\\.[0-9]{2} s into the task"));
  // The pool is still usable after a failed job.
  CHECK(pool.map_reduce<int, int>(
                items, [](int i, auto& emit) { emit(i % 2, i); }, std::plus<>{})
            .size() == 2);
}

TEST_CASE("an exception in a reducer names the partition", "[pool][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .partitions = 3});
  const std::string msg = test::job_error([&] {
    (void)pool.map_reduce<int, int>(
        std::vector<int>{1, 2, 3}, [](int i, auto& emit) { emit(i, i); },
        [](int key, std::span<const int>) -> int {
          if (key == 2) throw std::runtime_error("reducer refused");
          return key;
        });
  });
  CHECK_THAT(msg, Catch::Matches("reduce task partition [0-2]: std::runtime_error: reducer refused"));
}

TEST_CASE("with spilling off, a shared-memory budget too small for the runs fails with a clear error",
          "[pool][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .shm_budget = 4096, .spill = false});
  const std::string msg = test::job_error([&] {
    (void)pool.map_reduce<std::uint64_t, std::uint64_t>(
        test::range(std::uint64_t(0), std::uint64_t(10000)), [](std::uint64_t i, auto& emit) { emit(i, i); },
        std::plus<>{});
  });
  CHECK_THAT(msg, Catch::Contains("the shared-memory budget of 4096 bytes is spent"));
  CHECK_THAT(msg, Catch::Contains("spilling is off"));
  CHECK_THAT(msg, Catch::StartsWith("map "));
}

TEST_CASE("options out of range are refused", "[pool]") {
  CHECK_THROWS_AS(mapreduce::Pool({.workers = 100000}), mapreduce::OptionsError);
  CHECK_THROWS_AS(mapreduce::Pool({.partitions = 1u << 20}), mapreduce::OptionsError);
  mapreduce::Pool defaults;
  CHECK(defaults.workers() >= 1);
  CHECK(defaults.partitions() == 4 * defaults.workers());
  CHECK(defaults.chunk_bytes() == std::size_t(1) << 20);
}

TEST_CASE("a job with no input forks nothing and returns nothing", "[pool]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  auto r = pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{}, word_mapper, std::plus<>{});
  CHECK(r.empty());
  CHECK(pool.last_stats().map_workers == 0);
  CHECK(pool.last_stats().reduce_workers == 0);
}

TEST_CASE("DenseKeys: a byte histogram through the array path equals the hashed one", "[pool]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(31, 300000);
  const auto file = dir.write("bytes.txt", text);
  std::map<std::uint32_t, std::uint64_t> expected;
  for (unsigned char c : text) ++expected[c];
  auto histogram = [](std::string_view chunk, auto& emit) {
    for (unsigned char c : chunk) emit(std::uint32_t(c), std::uint64_t(1));
  };
  for (unsigned workers : {1u, 3u}) {
    mapreduce::Pool pool({.workers = workers, .partitions = 5, .chunk_bytes = 20000});
    auto dense = pool.map_reduce<std::uint32_t, std::uint64_t>(mapreduce::FileInput{{file}}, histogram, std::plus<>{},
                                                               mapreduce::DenseKeys{256});
    auto hashed = pool.map_reduce<std::uint32_t, std::uint64_t>(mapreduce::FileInput{{file}}, histogram, std::plus<>{});
    CHECK(std::map<std::uint32_t, std::uint64_t>(dense.begin(), dense.end()) == expected);
    CHECK(dense == hashed);  // same pairs, same order
  }
  mapreduce::Pool pool({.workers = 2});
  const std::string msg = test::job_error([&] {
    (void)pool.map_reduce<std::uint32_t, std::uint64_t>(mapreduce::FileInput{{file}}, histogram, std::plus<>{},
                                                        mapreduce::DenseKeys{100});
  });
  CHECK_THAT(msg, Catch::Contains("is outside DenseKeys [0, 100)"));
}

TEST_CASE("empty keys, and keys that would travel as addresses are refused at compile time", "[pool]") {
  STATIC_REQUIRE_FALSE(mapreduce::Key<std::string_view>);
  STATIC_REQUIRE_FALSE(mapreduce::Key<const char*>);
  STATIC_REQUIRE_FALSE(mapreduce::Encodable<std::string_view>);
  STATIC_REQUIRE_FALSE(mapreduce::Encodable<int*>);
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  auto r = pool.map_reduce<std::string, int>(
      std::vector<int>(100, 1), [](int i, auto& emit) { emit(std::string_view(), i); }, std::plus<>{});
  CHECK(r == std::vector<std::pair<std::string, int>>{{"", 100}});
}

TEST_CASE("a timeout out of range is refused", "[pool]") {
  CHECK_THROWS_AS(mapreduce::Pool({.task_timeout_seconds = -1}), mapreduce::OptionsError);
  CHECK_THROWS_AS(mapreduce::Pool({.task_timeout_seconds = 1e300}), mapreduce::OptionsError);
}

TEST_CASE("the progress callback sees every task of each phase finish, bytes included", "[pool]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(9, 100000);
  const auto file = dir.write("in.txt", text);
  std::vector<mapreduce::Progress> seen;
  mapreduce::PoolOptions o{.workers = 2, .partitions = 3, .chunk_bytes = 10000};
  o.progress = [&](const mapreduce::Progress& p) { seen.push_back(p); };
  mapreduce::Pool pool(o);
  (void)pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{{file}},
      [](std::string_view c, auto& emit) {
        mapreduce::for_each_word(c, [&](std::string_view w) { emit(w, std::uint64_t(1)); });
      },
      std::plus<>{});
  const std::size_t map_tasks = pool.last_stats().map_tasks;
  REQUIRE(seen.size() == 1 + map_tasks + 1 + 3);  // a start and one report per task, each phase
  for (std::size_t i = 0; i <= map_tasks; ++i) {
    CHECK(std::string(seen[i].phase) == "map");
    CHECK(seen[i].tasks_done == i);
    CHECK(seen[i].tasks_total == map_tasks);
    CHECK(seen[i].bytes_total == text.size());
  }
  CHECK(seen[map_tasks].bytes_done == text.size());
  CHECK(std::string(seen.back().phase) == "reduce");
  CHECK(seen.back().tasks_done == 3);
}

namespace {
// A plain function (not a lambda or a function object) as the combine operation.
std::int64_t add_counts(const std::int64_t& a, const std::int64_t& b) { return a + b; }
}  // namespace

TEST_CASE("string literals as keys and plain functions as reducers", "[pool]") {
  // Also a compile check: short literals let the compiler see the key's end, which the
  // engine's fixed-size key loads read past (within the page); -Werror builds this file.
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  const auto items = test::range(0, 1000);
  auto counts = pool.map_reduce<std::string, std::int64_t>(
      items,
      [](int i, auto& emit) {
        emit(i % 2 == 0 ? "ok" : "odd", std::int64_t(1));
        if (i % 100 == 0) emit("malformed", std::int64_t(1));
      },
      add_counts);
  mapreduce::sort_by_key(counts);
  CHECK(counts == std::vector<std::pair<std::string, std::int64_t>>{{"malformed", 10}, {"odd", 500}, {"ok", 500}});
}

// What a worker inherits from its host: no descriptor but the job's and those kept, every
// signal at its default, and a death the parent sees whoever holds a copy of its socket.

TEST_CASE("workers keep no descriptor of the host but the job's own and those it keeps") {
  test::LeakCheck leaks;
  int host[2], kept[2];  // stand for a server's listening socket, and a log file of the mapper
  REQUIRE(::pipe(host) == 0);
  REQUIRE(::pipe(kept) == 0);
  mapreduce::Pool pool({.workers = 2, .keep_descriptors = {kept[1]}});
  const int hidden = host[0], shown = kept[1];
  const auto open = pool.map(
      [hidden, shown](int) {
        return std::pair<bool, bool>(::fcntl(hidden, F_GETFD) != -1, ::fcntl(shown, F_GETFD) != -1);
      },
      std::vector<int>(16));
  REQUIRE(open.size() == 16);
  for (const auto& [host_fd_open, kept_fd_open] : open) {
    CHECK_FALSE(host_fd_open);
    CHECK(kept_fd_open);
  }
  for (const int fd : {host[0], host[1], kept[0], kept[1]}) ::close(fd);
}

namespace {
extern "C" void ignore_signal(int) {}
}  // namespace

TEST_CASE("workers start with no handler of the host, no signal blocked, and ignored ones as exec leaves them") {
  test::LeakCheck leaks;
  struct sigaction handler {};
  struct sigaction ignore {};
  struct sigaction saved_usr1 {};
  struct sigaction saved_hup {};
  struct sigaction saved_chld {};
  handler.sa_handler = ignore_signal;
  sigemptyset(&handler.sa_mask);
  ::sigaction(SIGUSR1, &handler, &saved_usr1);
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGHUP, &ignore, &saved_hup);  // as under nohup
  ::sigaction(SIGCHLD, &ignore, &saved_chld);
  sigset_t usr2, saved_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::sigprocmask(SIG_BLOCK, &usr2, &saved_mask);

  mapreduce::Pool pool({.workers = 2});
  const auto as_expected = pool.map(
      [](int) {
        struct sigaction usr1 {};
        struct sigaction hup {};
        struct sigaction chld {};
        ::sigaction(SIGUSR1, nullptr, &usr1);
        ::sigaction(SIGHUP, nullptr, &hup);
        ::sigaction(SIGCHLD, nullptr, &chld);
        sigset_t mask;
        ::sigprocmask(SIG_BLOCK, nullptr, &mask);
        // The handler is gone; SIGHUP stays ignored, as exec leaves it; SIGCHLD is back at
        // its default, so that the worker can wait for children of its own.
        return int(usr1.sa_handler == SIG_DFL && hup.sa_handler == SIG_IGN && chld.sa_handler == SIG_DFL &&
                   sigismember(&mask, SIGUSR2) == 0);
      },
      std::vector<int>(8));

  ::sigprocmask(SIG_SETMASK, &saved_mask, nullptr);
  ::sigaction(SIGCHLD, &saved_chld, nullptr);
  ::sigaction(SIGHUP, &saved_hup, nullptr);
  ::sigaction(SIGUSR1, &saved_usr1, nullptr);
  CHECK(as_expected == std::vector<int>(8, 1));
}

TEST_CASE("a worker's death is seen even while a process it forked holds a copy of its socket") {
  test::LeakCheck leaks;
  int release[2];
  REQUIRE(::pipe(release) == 0);
  const int wait_end = release[0];
  // The first attempt of task 2 forks a process (which keeps every descriptor of the
  // worker, its socket included, until the test lets it go) and dies. EOF on the socket
  // never comes while that process lives: only the worker's pidfd says it ended.
  mapreduce::Pool pool({.workers = 2,
                        .items_per_task = 1,
                        .before_task =
                            [wait_end](const mapreduce::TaskContext& t) {
                              if (t.task != 2 || t.attempt != 1) return;
                              if (::fork() == 0) {
                                char b;
                                while (::read(wait_end, &b, 1) < 0) {
                                }
                                ::_exit(0);
                              }
                              ::_exit(9);
                            },
                        .keep_descriptors = {wait_end}});
  const auto out = pool.map([](std::uint64_t x) { return 3 * x; }, test::range<std::uint64_t>(0, 6));
  CHECK(out == std::vector<std::uint64_t>{0, 3, 6, 9, 12, 15});
  CHECK(pool.last_stats().retries == 1);
  REQUIRE(::write(release[1], "x", 1) == 1);
  ::close(release[0]);
  ::close(release[1]);
}

TEST_CASE("a job runs on the thread whose imap stream is still alive") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  const auto items = test::range<std::uint64_t>(0, 40);
  std::uint64_t n = 0;
  for (const std::uint64_t v : pool.imap([](std::uint64_t x) { return x * 2; }, items, {.max_pending = 4})) {
    CHECK(v == 2 * n);
    if (n % 10 == 0) {
      const auto inner = pool.map([](std::uint64_t x) { return x + 1; }, test::range<std::uint64_t>(0, 20));
      CHECK(inner == test::range<std::uint64_t>(1, 21));
    }
    ++n;
  }
  CHECK(n == 40);
}

TEST_CASE("the open-file limit rises only while a job needs it, and comes back after") {
  test::LeakCheck leaks;
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE(saved.rlim_max >= 1024);  // a hard limit below would fail the job, as it should
  rlimit low = saved;
  low.rlim_cur = 64;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto soft = [] {
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    return now.rlim_cur;
  };
  // A small job stays within it and leaves it alone.
  bool raised = false;
  mapreduce::Pool small({.workers = 2, .progress = [&](const mapreduce::Progress&) { raised |= soft() != 64; }});
  CHECK(small.map([](int x) { return x; }, test::range(0, 10)) == test::range(0, 10));
  CHECK_FALSE(raised);
  // 100 results of just over 1 MiB, a worker's flush size: each is a segment the parent
  // holds, as a descriptor, until the gather.
  constexpr std::size_t size = (std::size_t(1) << 20) + 1;
  mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
  const auto big = pool.map([](int i) { return std::string(size, static_cast<char>('a' + i % 26)); },
                            test::range(0, 100));
  REQUIRE(big.size() == 100);
  for (int i = 0; i < 100; ++i)
    CHECK(big[static_cast<std::size_t>(i)] == std::string(size, static_cast<char>('a' + i % 26)));
  CHECK(soft() == 64);
  ::setrlimit(RLIMIT_NOFILE, &saved);
}
