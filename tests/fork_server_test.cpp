// Jobs from a multi-threaded host (fork_server.hpp, and the thread check every phase
// makes): a job in a threaded process fails at once and says why, runs through a
// ForkServer started before the threads, and never hangs.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mapreduce/mapreduce.hpp>

#include "support.hpp"

namespace {

// The host of the issue: one background thread that logs under a std::mutex, and a mapper
// that logs through the same logger. A worker forked while the thread holds the mutex
// would wait on it forever.
class Logger {
 public:
  void log(std::string_view line) {
    const std::lock_guard lock(mutex_);
    ++lines_;
    last_.assign(line);
  }
  void start() {
    stop_ = false;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        const std::lock_guard lock(mutex_);
        ++lines_;
        last_ = "heartbeat";
        // Holding the lock most of the time, as a slow sink would.
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  ~Logger() { stop(); }

 private:
  std::mutex mutex_;
  std::uint64_t lines_ = 0;
  std::string last_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Logger logger;

void count_and_log(std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
  logger.log("mapping a chunk");
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
}

using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

Counts count_files(const std::vector<std::string>& files) {
  mapreduce::Pool pool({.workers = 2, .chunk_bytes = 4096});
  const std::vector<std::filesystem::path> paths(files.begin(), files.end());
  return pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{paths}, count_and_log, std::plus<>{});
}

}  // namespace

TEST_CASE("a job in a process with another thread fails at once, and says why and what to do") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const auto file = dir.write("in.txt", test::random_text(1, 20000)).string();
  logger.start();
  std::string message;
  try {
    (void)count_files({file});
  } catch (const mapreduce::ThreadsError& e) {
    message = e.what();
  }
  logger.stop();
  CHECK_THAT(message, Catch::Contains("has 2 threads"));
  CHECK_THAT(message, Catch::Contains("ForkServer"));
  CHECK_THAT(message, Catch::Contains("host_threads_fork_safe"));
  // Nothing was forked: no worker is left waiting on the logger's mutex.
  CHECK(test::children_of(::getpid()).empty());
}

TEST_CASE("the logger program runs its jobs through a ForkServer started before its thread") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text_a = test::random_text(2, 60000), text_b = test::random_text(3, 30000);
  const std::vector<std::string> files{dir.write("a.txt", text_a).string(), dir.write("b.txt", text_b).string()};
  {
    mapreduce::ForkServer server;
    logger.start();
    for (int round = 0; round < 3; ++round) {
      const Counts counts = server.run([](const std::vector<std::string>& f) { return count_files(f); }, files);
      CHECK(test::as_map(counts) == test::reference_counts({text_a, text_b}));
    }
    logger.stop();
  }
}

TEST_CASE("a ForkServer runs jobs from several threads at once, each in its own process") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::vector<std::string> texts, files;
  for (int i = 0; i < 4; ++i) {
    texts.push_back(test::random_text(10 + static_cast<std::uint64_t>(i), 20000 + 5000 * static_cast<std::size_t>(i)));
    files.push_back(dir.write("in" + std::to_string(i) + ".txt", texts.back()).string());
  }
  mapreduce::ForkServer server;
  std::vector<Counts> results(files.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < files.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = server.run([](const std::string& f) { return count_files({f}); }, files[i]); });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < files.size(); ++i) CHECK(test::as_map(results[i]) == test::reference_counts({texts[i]}));
}

TEST_CASE("a ForkServer job's arguments, result and failures cross as they would in one process") {
  test::LeakCheck leaks;
  mapreduce::ForkServer server;
  SECTION("plain values, a capture by value, and no result") {
    int offset = 5;  // not a constant: a value the job must carry
    CHECK(server.run([offset](int a, const std::string& s) { return a + offset + static_cast<int>(s.size()); }, 10,
                     std::string("abc")) == 18);
    server.run([] {});
    const auto squares = server.run(
        [](const std::vector<std::uint64_t>& xs) {
          mapreduce::Pool pool({.workers = 2});
          return pool.map([](std::uint64_t x) { return x * x; }, xs);
        },
        test::range<std::uint64_t>(0, 1000));
    REQUIRE(squares.size() == 1000);
    for (std::uint64_t i = 0; i < 1000; ++i) CHECK(squares[i] == i * i);
  }
  SECTION("a mapreduce exception comes back as its own class, with its message") {
    CHECK_THROWS_MATCHES(server.run([] { return count_files({"/nonexistent/input.txt"}); }), mapreduce::InputError,
                         Catch::Matchers::Message("/nonexistent/input.txt: cannot open: No such file or directory"));
    CHECK_THROWS_AS(server.run([] { mapreduce::Pool pool({.workers = 100000}); }), mapreduce::OptionsError);
  }
  SECTION("another exception comes back as a JobError that names it") {
    try {
      server.run([] { throw std::out_of_range("no such station"); });
      FAIL("no exception");
    } catch (const mapreduce::JobError& e) {
      CHECK_THAT(e.what(), Catch::Contains("std::out_of_range"));
      CHECK_THAT(e.what(), Catch::Contains("no such station"));
    }
  }
  SECTION("a job process that dies is a JobError that says how, and the server carries on") {
    CHECK_THAT(test::job_error([&] { server.run([] { std::abort(); }); }),
               Catch::Contains("killed by signal 6 (SIGABRT)"));
    CHECK_THAT(test::job_error([&] { server.run([] { ::_exit(3); }); }), Catch::Contains("exited with status 3"));
    CHECK(server.run([] { return 42; }) == 42);
  }
  SECTION("a job process that dies while a process it forked holds its socket is still seen to die") {
    // The grandchild keeps a copy of the job's socket, so no EOF comes while it lives: the
    // caller learns of the death from the status the server writes when it reaps the job.
    test::TempDir dir;
    const std::string pid_file = (dir.path() / "grandchild").string();
    const std::string message = test::job_error([&] {
      server.run(
          [](const std::string& path) {
            const pid_t child = ::fork();
            if (child == 0) {
              ::sleep(3600);
              ::_exit(0);
            }
            std::ofstream(path) << child << '\n';
            ::_exit(4);
          },
          pid_file);
    });
    CHECK_THAT(message, Catch::Contains("exited with status 4"));
    pid_t grandchild = 0;
    std::ifstream(pid_file) >> grandchild;
    REQUIRE(grandchild > 0);
    ::kill(grandchild, SIGKILL);
  }
}

TEST_CASE("a ForkServer is refused once the process has other threads") {
  logger.start();
  CHECK_THROWS_AS(mapreduce::ForkServer(), mapreduce::ThreadsError);
  logger.stop();
}

TEST_CASE("host_threads_fork_safe: the caller vouches for its threads, and the job runs beside them") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(4, 30000);
  const auto file = dir.write("in.txt", text).string();
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::thread idle([&] {  // takes no lock the workers need
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return stop; });
  });
  mapreduce::Pool pool({.workers = 2, .host_threads_fork_safe = true});
  const auto counts = pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{{file}},
      [](std::string_view chunk, auto& emit) { mapreduce::for_each_word(chunk, [&](auto w) { emit(w, 1); }); },
      std::plus<>{});
  {
    const std::lock_guard lock(m);
    stop = true;
  }
  cv.notify_one();
  idle.join();
  CHECK(test::as_map(counts) == test::reference_counts({text}));
}

TEST_CASE("a second job from another thread while one runs fails at once (ThreadsError); the first finishes") {
  test::LeakCheck leaks;
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::atomic<bool> mapping{false};
  std::vector<std::uint64_t> first;
  std::thread runner([&] {
    // Its mappers wait for a byte each on the gate, kept open in the workers for them.
    mapreduce::Pool pool({.workers = 2,
                          .progress = [&](const mapreduce::Progress&) { mapping = true; },
                          .keep_descriptors = {gate[0]},
                          .host_threads_fork_safe = true});
    const int read_end = gate[0];
    first = pool.map(
        [read_end](std::uint64_t x) {
          char b;
          while (::read(read_end, &b, 1) < 0) {
          }
          return x + 1;
        },
        test::range<std::uint64_t>(0, 4));
  });
  while (!mapping.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  mapreduce::Pool second({.workers = 1, .host_threads_fork_safe = true});
  std::string message;
  try {
    (void)second.map([](int x) { return x; }, std::vector<int>{1});
  } catch (const mapreduce::ThreadsError& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains("another thread of this process is running a job"));
  CHECK_THAT(message, Catch::Contains("ForkServer"));
  REQUIRE(::write(gate[1], "xxxx", 4) == 4);
  runner.join();
  ::close(gate[0]);
  ::close(gate[1]);
  CHECK(first == std::vector<std::uint64_t>{1, 2, 3, 4});
}
