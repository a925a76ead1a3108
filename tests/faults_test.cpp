// Faults: workers that die, hang, throw or leak; a parent that is killed or interrupted;
// shared memory that runs out; a disk that fills. A job either gives the exact result or
// a clear error, and leaves nothing behind.
#include <mapreduce/mapreduce.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

// Counters that worker processes can bump and the test can read: an anonymous shared
// mapping made before the workers are forked.
class SharedCounters {
 public:
  explicit SharedCounters(std::size_t n) : n_(n) {
    void* p = ::mmap(nullptr, n * sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    c_ = static_cast<std::atomic<long>*>(p);
    for (std::size_t i = 0; i < n; ++i) new (&c_[i]) std::atomic<long>(0);
  }
  ~SharedCounters() { ::munmap(c_, n_ * sizeof(std::atomic<long>)); }
  SharedCounters(const SharedCounters&) = delete;
  SharedCounters& operator=(const SharedCounters&) = delete;
  std::atomic<long>& operator[](std::size_t i) { return c_[i]; }

 private:
  std::size_t n_;
  std::atomic<long>* c_;
};

auto word_mapper = [](std::string_view chunk, auto& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, std::uint64_t(1)); });
};

// Runs `body` in a forked child and returns its exit status (or 128 + signal).
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 98;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Workers die by SIGSEGV and abort() on purpose here: no core files for those.
const bool no_core_files = [] {
  rlimit none{0, 0};
  return ::setrlimit(RLIMIT_CORE, &none) == 0;
}();

}  // namespace

TEST_CASE("a worker killed in map or reduce costs a retry, and the result is exact", "[faults]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(21, 200000);
  const auto file = dir.write("in.txt", text);
  const auto expected = test::reference_counts({text});
  for (const char* phase : {"map", "reduce"}) {
    for (unsigned task : {0u, 3u, 7u}) {
      INFO(phase << " task " << task);
      mapreduce::PoolOptions o{.workers = 2, .partitions = 8, .chunk_bytes = 16384};
      o.before_task = [phase, task](const mapreduce::TaskContext& t) {
        if (std::string_view(t.phase) == phase && t.task == task && t.attempt == 1) ::raise(SIGKILL);
      };
      mapreduce::Pool pool(o);
      CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, word_mapper,
                                                                     std::plus<>{})) == expected);
      CHECK(pool.last_stats().retries == 1);
      // 2 (the map workers go on to reduce), and up to two replacements: none when the other
      // worker asks for work just after the death was seen and takes the lost task itself
      // (seen under load, with the last task), one when it is still busy, two when it had
      // already been told to finish.
      const unsigned forked = pool.last_stats().forked_workers;
      CHECK(forked >= 2);
      CHECK(forked <= 4);
    }
  }
}

TEST_CASE("a worker that dies after finishing tasks loses them, and they run again exactly once", "[faults]") {
  test::LeakCheck leaks;
  // The worker that runs task 5 dies in it, holding the combined output of its earlier
  // tasks: all of them must be counted, none twice.
  const auto items = test::range(0, 4000);
  std::map<int, long> expected;
  for (int i : items) expected[i % 50] += i;
  for (int how = 0; how < 3; ++how) {
    mapreduce::PoolOptions o{.workers = 2, .partitions = 3, .items_per_task = 100};
    o.before_task = [how](const mapreduce::TaskContext& t) {
      if (std::string_view(t.phase) != "map" || t.task != 5 || t.attempt != 1) return;
      if (how == 0) ::raise(SIGKILL);
      if (how == 1) ::abort();
      if (how == 2) ::_exit(7);
    };
    mapreduce::Pool pool(o);
    auto result = pool.map_reduce<int, long>(
        items, [](int i, auto& emit) { emit(i % 50, long(i)); }, std::plus<>{});
    CHECK(std::map<int, long>(result.begin(), result.end()) == expected);
    CHECK(pool.last_stats().retries == 1);
  }
}

TEST_CASE("200 jobs with random worker kills: every result exact, nothing leaked", "[faults]") {
  test::LeakCheck leaks;
  std::vector<std::string> docs;
  for (std::uint64_t i = 0; i < 40; ++i) docs.push_back(test::random_text(1000 + i, 3000));
  const auto expected_words = test::reference_counts(docs);
  std::map<std::uint32_t, std::vector<std::uint32_t>> expected_index;
  for (std::uint32_t d = 0; d < docs.size(); ++d) {
    mapreduce::for_each_word(
        docs[d], [&](std::string_view w) { expected_index[static_cast<std::uint32_t>(w.size())].push_back(d); });
  }
  unsigned total_retries = 0;
  for (std::uint64_t job = 0; job < 200; ++job) {
    INFO("job " << job);
    mapreduce::PoolOptions o{.workers = 1 + static_cast<unsigned>(job % 3),
                             .partitions = 1 + static_cast<unsigned>(job % 5),
                             .items_per_task = 1 + job % 7};
    // Seeded per job and per (phase, task, attempt): never on the last attempt, so every
    // job can finish; the result must come out the same as without faults.
    o.before_task = [job](const mapreduce::TaskContext& t) {
      if (t.attempt >= 4) return;
      const std::uint64_t h = mapreduce::hash_integer(job * 1000003 + t.task * 31 + t.attempt * 7 + t.phase[0]);
      if (h % 100 < 15) ::raise(h % 2 == 0 ? SIGKILL : SIGSEGV);
    };
    mapreduce::Pool pool(o);
    if (job % 2 == 0) {
      auto r = pool.map_reduce<std::string, std::uint64_t>(
          docs, [](const std::string& d, auto& emit) { word_mapper(d, emit); }, std::plus<>{});
      REQUIRE(test::as_map(r) == expected_words);
    } else {
      auto r = pool.map_reduce<std::uint32_t, std::uint32_t>(
          test::range(std::uint32_t(0), static_cast<std::uint32_t>(docs.size())),
          [&docs](std::uint32_t d, auto& emit) {
            mapreduce::for_each_word(docs[d],
                                     [&](std::string_view w) { emit(static_cast<std::uint32_t>(w.size()), d); });
          },
          [](std::uint32_t, std::span<const std::uint32_t> ds) {
            return std::vector<std::uint32_t>(ds.begin(), ds.end());
          });
      REQUIRE(std::map<std::uint32_t, std::vector<std::uint32_t>>(r.begin(), r.end()) == expected_index);
    }
    total_retries += pool.last_stats().retries;
  }
  CHECK(total_retries > 100);  // the faults did happen
}

TEST_CASE("exceptions fail the job at once by default, and are retried when asked", "[faults]") {
  test::LeakCheck leaks;
  SharedCounters attempts(1);
  const std::vector<int> items{1, 2, 3, 4};
  auto job = [&](mapreduce::Pool& pool, bool always) {
    return pool.map_reduce<int, int>(
        items,
        [&attempts, always](int i, auto& emit) {
          if (i == 3 && (always || attempts[0]++ == 0)) throw std::runtime_error("flaky");
          emit(i, i);
        },
        std::plus<>{});
  };
  {
    mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
    CHECK(test::job_error([&] { (void)job(pool, false); }) == "map task item 2: std::runtime_error: flaky");
    CHECK(attempts[0] == 1);  // not retried
  }
  attempts[0] = 0;
  {
    mapreduce::Pool pool({.workers = 2, .items_per_task = 1, .retry_exceptions = true});
    CHECK(job(pool, false).size() == 4);
    CHECK(pool.last_stats().retries == 1);
    CHECK(test::job_error([&] { (void)job(pool, true); }) ==
          "map task item 2 failed 4 times: attempt 1: std::runtime_error: flaky; attempt 2: std::runtime_error: "
          "flaky; attempt 3: std::runtime_error: flaky; attempt 4: std::runtime_error: flaky");
  }
}

TEST_CASE("max_tasks_per_worker replaces workers, and results stay in order", "[faults]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .items_per_task = 1, .max_tasks_per_worker = 2});
  const auto pids = pool.map([](int) { return static_cast<int>(::getpid()); }, std::vector<int>(10, 0));
  CHECK(std::set<int>(pids.begin(), pids.end()).size() >= 5);
  CHECK(pool.last_stats().map_workers >= 5);
  CHECK(pool.map([](int i) { return i * 3; }, test::range(0, 100)) == [] {
    std::vector<int> v;
    for (int i = 0; i < 100; ++i) v.push_back(i * 3);
    return v;
  }());
}

TEST_CASE("a task past its timeout is killed and retried; one that always hangs fails the job", "[faults]") {
  test::LeakCheck leaks;
  mapreduce::PoolOptions o{.workers = 2, .items_per_task = 1, .max_attempts = 2, .task_timeout_seconds = 1.0};
  o.before_task = [](const mapreduce::TaskContext& t) {
    if (std::string_view(t.phase) == "map" && t.task == 1 && t.attempt == 1) ::pause();  // hangs
  };
  mapreduce::Pool pool(o);
  CHECK(pool.map([](int i) { return i + 1; }, std::vector<int>{1, 2, 3}) == std::vector<int>{2, 3, 4});
  CHECK(pool.last_stats().retries == 1);

  o.before_task = [](const mapreduce::TaskContext& t) {
    if (t.task == 0) ::pause();
  };
  mapreduce::Pool hanging(o);
  CHECK_THAT(test::job_error([&] {
               (void)hanging.map([](int i) { return i; }, std::vector<int>{1, 2});
             }),
             Catch::Matches("map task item 0 failed 2 times: attempt 1: worker process [0-9]+ was killed after the "
                            "task ran past its 1 s timeout; attempt 2: .*timeout"));
}

TEST_CASE("the parent killed with SIGKILL takes every worker with it", "[faults]") {
  test::TempDir dir;
  // This process adopts orphans, so the workers can be watched and reaped here.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  const auto before = test::dir_entries("/dev/shm");
  std::fflush(nullptr);
  const pid_t job = ::fork();
  REQUIRE(job >= 0);
  if (job == 0) {
    mapreduce::PoolOptions o{.workers = 3, .shm_budget = 1, .items_per_task = 1, .max_tasks_per_worker = 1};
    o.spill_dir = dir.path().string();
    mapreduce::Pool pool(o);
    // Task 0's worker spills its output and exits (one task per worker); every later task
    // waits to be killed.
    (void)pool.map(
        [](int i) {
          if (i > 0) ::pause();
          return std::string(1000, 'x');
        },
        test::range(0, 10));
    ::_exit(0);
  }
  // Whatever happens below, the job goes: a failed REQUIRE must not leave it running.
  struct KillJob {
    pid_t pid;
    ~KillJob() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } guard{job};
  std::vector<pid_t> workers;
  for (int i = 0; i < 500 && workers.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    workers = test::children_of(job);
  }
  // 3 waiting workers, and perhaps task 0's, still on its way out.
  REQUIRE(workers.size() >= 3);
  REQUIRE(::kill(job, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(job, &status, 0) == job);
  guard.pid = -1;
  // PR_SET_PDEATHSIG ends them as soon as the parent is gone; wait generously, so only a
  // worker that really survives fails this.
  for (int i = 0; i < 500 && std::any_of(workers.begin(), workers.end(), test::alive); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (pid_t w : workers) {
    CHECK_FALSE(test::alive(w));
    ::waitpid(w, nullptr, 0);  // adopted by this process: reap
  }
  // A replacement worker forked after the list above was read was adopted too: it must
  // end as well, and be reaped here, or a later test would find it as a zombie.
  bool all_reaped = false;
  for (int i = 0; i < 500 && !all_reaped; ++i) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    all_reaped = ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
    if (!all_reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(all_reaped);
  CHECK(test::dir_entries(dir.path().c_str()).empty());
  CHECK(test::dir_entries("/dev/shm") == before);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("SIGINT or SIGTERM under an InterruptGuard stops the job cleanly", "[faults]") {
  for (int sig : {SIGINT, SIGTERM}) {
    const pid_t test_pid = ::getpid();
    const int code = in_child([sig, test_pid] {
      (void)test_pid;
      mapreduce::InterruptGuard guard;
      const std::size_t fds = test::open_fds();
      mapreduce::PoolOptions o{.workers = 2, .items_per_task = 1};
      o.before_task = [sig](const mapreduce::TaskContext& t) {
        if (t.task == 1) ::kill(::getppid(), sig);  // the parent gets the signal mid-job
        if (t.task >= 1) ::pause();
      };
      mapreduce::Pool pool(o);
      try {
        (void)pool.map([](int i) { return i; }, test::range(0, 10));
      } catch (const mapreduce::Interrupted& e) {
        const bool clean = ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD && test::open_fds() == fds &&
                           !test::maps_shared_segment();
        if (!clean) return 3;
        // The interrupt was for that job: the next one under the same guard runs to the end.
        mapreduce::Pool next({.workers = 2});
        if (next.map([](int i) { return i + 1; }, test::range(0, 10)).back() != 10) return 5;
        return 128 + e.signal();
      }
      return 4;
    });
    CHECK(code == 128 + sig);
  }
}

TEST_CASE("past the shared-memory budget, runs spill to unnamed 0600 files and the result is exact", "[faults]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::vector<std::string> docs;
  for (std::uint64_t i = 0; i < 30; ++i) docs.push_back(test::random_text(500 + i, 20000));
  const auto expected = test::reference_counts(docs);
  SharedCounters checked(2);
  mapreduce::PoolOptions o{.workers = 2, .partitions = 4, .shm_budget = 64 * 1024, .items_per_task = 2};
  o.spill_dir = dir.path().string();
  o.before_task = [&checked, &dir](const mapreduce::TaskContext& t) {
    if (std::string_view(t.phase) != "reduce") return;
    // The spill files the reducer inherited: unnamed, owner-only, nothing in the directory.
    if (!test::dir_entries(dir.path().c_str()).empty()) throw std::runtime_error("a spill file has a name");
    struct stat dir_st {};
    ::stat(dir.path().c_str(), &dir_st);
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      struct stat st {};
      // Unnamed regular files on the spill directory's file system: the spill files.
      if (::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != dir_st.st_dev ||
          st.st_nlink != 0) {
        continue;
      }
      if ((st.st_mode & 0777) != 0600) throw std::runtime_error("a spill file is not private");
      ++checked[0];
    }
  };
  mapreduce::Pool pool(o);
  CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(
            docs, [](const std::string& d, auto& emit) { word_mapper(d, emit); }, std::plus<>{})) == expected);
  CHECK(pool.last_stats().spilled_bytes > 0);
  CHECK(checked[0] > 0);
  CHECK(test::dir_entries(dir.path().c_str()).empty());
}

TEST_CASE("intermediate data far past the budget: every pair spilled, sorted, merged", "[faults]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  // Every word with its position: no combiner, about 20 times the budget of pairs.
  std::vector<std::string> docs;
  for (std::uint64_t i = 0; i < 16; ++i) docs.push_back(test::random_text(900 + i, 40000));
  std::map<std::string, std::vector<std::uint64_t>> expected;
  for (std::uint64_t d = 0; d < docs.size(); ++d) {
    std::uint64_t pos = 0;
    mapreduce::for_each_word(docs[d], [&](std::string_view w) { expected[std::string(w)].push_back(d << 32 | pos++); });
  }
  mapreduce::PoolOptions o{.workers = 2, .partitions = 3, .shm_budget = 256 * 1024, .items_per_task = 1};
  o.spill_dir = dir.path().string();
  mapreduce::Pool pool(o);
  auto r = pool.map_reduce<std::string, std::uint64_t>(
      test::range(std::uint64_t(0), std::uint64_t(docs.size())),
      [&docs](std::uint64_t d, auto& emit) {
        std::uint64_t pos = 0;
        mapreduce::for_each_word(docs[d], [&](std::string_view w) { emit(w, d << 32 | pos++); });
      },
      [](std::string_view, std::span<const std::uint64_t> positions) {
        return std::vector<std::uint64_t>(positions.begin(), positions.end());
      });
  CHECK(std::map<std::string, std::vector<std::uint64_t>>(r.begin(), r.end()) == expected);
  CHECK(pool.last_stats().spilled_bytes > 5 * o.shm_budget);
}

TEST_CASE("a disk that fills while spilling gives a clear error and leaves no file", "[faults]") {
  test::TempDir dir;
  const auto full = dir.path() / "full";
  std::filesystem::create_directory(full);
  const int code = in_child([&] {
    // As root, a 64 KiB tmpfs in a mount namespace of our own; otherwise a file-size limit.
    bool tmpfs = ::unshare(CLONE_NEWNS) == 0 && ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                 ::mount("mapreduce-test", full.c_str(), "tmpfs", 0, "size=64k") == 0;
    if (!tmpfs) {
      ::signal(SIGXFSZ, SIG_IGN);
      rlimit lim{16384, 16384};
      ::setrlimit(RLIMIT_FSIZE, &lim);
    }
    mapreduce::PoolOptions o{.workers = 2, .shm_budget = 1, .items_per_task = 1};
    o.spill_dir = full.string();
    mapreduce::Pool pool(o);
    try {
      (void)pool.map([](int) { return std::string(200000, 'x'); }, test::range(0, 4));
    } catch (const mapreduce::JobError& e) {
      const std::string msg = e.what();
      const bool named = msg.find("cannot spill ") != std::string::npos &&
                         msg.find(tmpfs ? "No space left on device" : "File too large") != std::string::npos;
      if (!named) std::fprintf(stderr, "unexpected: %s\n", msg.c_str());
      return named && test::dir_entries(full.c_str()).empty() ? 0 : 5;
    }
    return 6;
  });
  CHECK(code == 0);
}

TEST_CASE("a file truncated while it is mapped is an input error naming the file", "[faults]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(5, 1 << 20);
  const auto file = dir.write("shrinks.txt", text);
  mapreduce::Pool pool({.workers = 2, .chunk_bytes = 65536});
  try {
    (void)pool.map_reduce<std::string, std::uint64_t>(
        mapreduce::FileInput{{file}},
        [&file](std::string_view chunk, auto& emit) {
          ::truncate(file.c_str(), 0);  // another process cuts the file under the job
          word_mapper(chunk, emit);     // reading the mapping now raises SIGBUS
        },
        std::plus<>{});
    FAIL("no error");
  } catch (const mapreduce::InputError& e) {
    CHECK(std::string(e.what()) ==
          file.string() + ": the file shrank from " + std::to_string(text.size()) + " to 0 bytes while the job ran");
  }
}

TEST_CASE("a program that ignores SIGCHLD still runs jobs, and gets its setting back", "[faults]") {
  const int code = in_child([] {
    ::signal(SIGCHLD, SIG_IGN);  // the kernel would reap workers before waitpid could
    mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
    const auto r = pool.map([](int i) { return i * 2; }, test::range(0, 20));
    struct sigaction now {};
    ::sigaction(SIGCHLD, nullptr, &now);
    return r.size() == 20 && r[19] == 38 && now.sa_handler == SIG_IGN ? 0 : 1;
  });
  CHECK(code == 0);
}

TEST_CASE("workers read the files the job checked, even if a path is replaced meanwhile", "[faults]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string original = test::random_text(71, 100000);
  const auto file = dir.write("input.txt", original);
  const auto other = dir.write("other.txt", std::string(50000, 'z') + "\n");
  // One task per worker: every task opens its input anew, after the path has changed.
  mapreduce::Pool pool({.workers = 2, .chunk_bytes = 4096, .max_tasks_per_worker = 1});
  const auto counts = pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{{file}},
      [&](std::string_view chunk, auto& emit) {
        // Log rotation under the job: another file takes the path (once; later it is gone).
        ::rename(other.c_str(), file.c_str());
        mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, std::uint64_t(1)); });
      },
      std::plus<>{});
  CHECK(test::as_map(counts) == test::reference_counts({original}));
}

namespace {
// AddressSanitizer's operator new never throws std::bad_alloc: out of memory, it reports
// and exits the worker with status 1. The limit still holds and the task is still retried,
// but as a crash, not as a memory failure.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool bad_alloc_thrown = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool bad_alloc_thrown = false;
#else
constexpr bool bad_alloc_thrown = true;
#endif
#else
constexpr bool bad_alloc_thrown = true;
#endif
}  // namespace

TEST_CASE("a task past the worker memory limit fails as such, apart from crashes, and is retried", "[faults]") {
  test::LeakCheck leaks;
  constexpr std::size_t limit = std::size_t(64) << 20;
  // Task 3 needs 256 MiB on its first attempt only, or on every attempt.
  auto job = [](bool every_attempt) {
    mapreduce::Pool pool({.workers = 2,
                          .items_per_task = 1,
                          .max_attempts = 3,
                          .before_task =
                              [every_attempt](const mapreduce::TaskContext& t) {
                                if (t.task != 3 || (t.attempt != 1 && !every_attempt)) return;
                                std::vector<char> big(std::size_t(256) << 20, 'x');
                                if (static_cast<volatile char*>(big.data())[12345] != 'x') std::abort();
                              },
                          .worker_memory = limit});
    const auto out = pool.map([](int x) { return x * x; }, test::range(0, 8));
    return std::pair(out, pool.last_stats());
  };
  SECTION("once: the retry succeeds, and the stats say why it was needed") {
    const auto [out, stats] = job(false);
    CHECK(out == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49});
    CHECK(stats.retries == 1);
    CHECK(stats.memory_failures == (bad_alloc_thrown ? 1 : 0));
  }
  SECTION("always: the job fails, and the error says it was the memory limit") {
    const std::string message = test::job_error([&] { (void)job(true); });
    CHECK_THAT(message, Catch::Contains("item 3"));
    CHECK_THAT(message, Catch::Contains(bad_alloc_thrown ? "exceeded the worker memory limit of 64 MiB"
                                                         : "exited with status 1"));
    CHECK_THAT(message, Catch::Contains("attempt 3"));
  }
  SECTION("memory the task frees again, below the limit, costs nothing") {
    mapreduce::Pool pool({.workers = 2, .worker_memory = limit});
    const auto out = pool.map(
        [](int x) {
          std::vector<char> buffer(std::size_t(4) << 20, static_cast<char>(x));
          return static_cast<int>(buffer.back());
        },
        test::range(0, 20));
    CHECK(out == test::range(0, 20));
    CHECK(pool.last_stats().memory_failures == 0);
  }
}
