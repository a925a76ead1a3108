// WorkerOutput: what workers write to stdout and stderr reaches the parent's descriptors a
// whole line at a time, prefixed with its origin on request.
#include <mapreduce/mapreduce.hpp>

#include <sched.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

// Sends this process's stdout and stderr to files while it lives, then puts them back.
class CapturedOutput {
 public:
  explicit CapturedOutput(const test::TempDir& dir)
      : out_path_((dir.path() / "stdout").string()), err_path_((dir.path() / "stderr").string()) {
    std::fflush(nullptr);
    saved_out_ = ::dup(1);
    saved_err_ = ::dup(2);
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::close(out);
    ::close(err);
  }
  ~CapturedOutput() { restore(); }
  void restore() {
    if (saved_out_ < 0) return;
    std::fflush(nullptr);
    ::dup2(saved_out_, 1);
    ::dup2(saved_err_, 2);
    ::close(saved_out_);
    ::close(saved_err_);
    saved_out_ = saved_err_ = -1;
  }
  [[nodiscard]] std::vector<std::string> out_lines() const { return lines(out_path_); }
  [[nodiscard]] std::vector<std::string> err_lines() const { return lines(err_path_); }

 private:
  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> v;
    std::string line;
    while (std::getline(in, line)) v.push_back(line);
    return v;
  }
  std::string out_path_, err_path_;
  int saved_out_ = -1, saved_err_ = -1;
};

// Each item writes 30 lines to stdout, each in three write(2)s with a yield between them:
// were the workers' descriptors shared as is, their pieces would cut into each other.
int noisy(int item) {
  for (int k = 0; k < 30; ++k) {
    const std::string a = "item " + std::to_string(item), b = " line ", c = std::to_string(k) + "\n";
    for (const std::string* piece : {&a, &b, &c}) {
      if (::write(1, piece->data(), piece->size()) < 0) return -1;
      ::sched_yield();
    }
  }
  std::fprintf(stderr, "done %d\n", item);  // stdio, line-buffered or not: also whole
  return item;
}

}  // namespace

TEST_CASE("workers' output lines arrive whole, and prefixed with worker and task on request", "[output]") {
  test::LeakCheck leaks;
  for (const auto mode : {mapreduce::WorkerOutput::lines, mapreduce::WorkerOutput::prefixed}) {
    const bool prefixed = mode == mapreduce::WorkerOutput::prefixed;
    INFO("prefixed " << prefixed);
    test::TempDir dir;
    const auto items = test::range(0, 24);
    std::vector<int> results;
    {
      CapturedOutput captured(dir);
      mapreduce::Pool pool({.workers = 3, .items_per_task = 1, .worker_output = mode});
      results = pool.map(noisy, items);
      captured.restore();
      CHECK(results == items);
      const std::regex prefix(R"(\[map worker [1-3] task (\d+)\] )");
      std::vector<int> lines_of(items.size(), 0);
      for (const std::string& line : captured.out_lines()) {
        std::smatch m;
        std::string rest = line;
        if (prefixed) {
          REQUIRE(std::regex_search(line, m, prefix, std::regex_constants::match_continuous));
          rest = m.suffix();
        }
        std::smatch body;
        REQUIRE(std::regex_match(rest, body, std::regex(R"(item (\d+) line (\d+))")));
        const int item = std::stoi(body[1]);
        if (prefixed) CHECK(std::stoi(m[1]) == item);  // one item per task: task i is item i
        ++lines_of[static_cast<std::size_t>(item)];
      }
      for (const int n : lines_of) CHECK(n == 30);
      const auto err = captured.err_lines();
      CHECK(err.size() == items.size());
      for (const std::string& line : err) {
        CHECK_THAT(line, Catch::Matches(prefixed ? R"(\[map worker [1-3] task (\d+)\] done \d+)" : R"(done \d+)"));
      }
    }
  }
}

TEST_CASE("a worker's last line without a newline still arrives, ended by one", "[output]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  CapturedOutput captured(dir);
  mapreduce::Pool pool({.workers = 1});
  pool.map(
      [](int i) {
        std::printf("partial %d", i);  // no newline: flushed as the worker exits
        return i;
      },
      std::vector<int>{5});
  captured.restore();
  CHECK(captured.out_lines() == std::vector<std::string>{"partial 5"});
}

TEST_CASE("inherited output goes straight to the parent's descriptors", "[output]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  CapturedOutput captured(dir);
  mapreduce::Pool pool({.workers = 2, .worker_output = mapreduce::WorkerOutput::inherit});
  pool.map(
      [](int i) {
        std::printf("direct %d\n", i);
        return i;
      },
      std::vector<int>{1, 2});
  captured.restore();
  auto lines = captured.out_lines();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{"direct 1", "direct 2"});
}

TEST_CASE("workers' lines to a parent stdout that is a closed pipe are dropped, and the job ends well", "[output]") {
  test::LeakCheck leaks;
  std::fflush(nullptr);
  const int saved = ::dup(1);
  int p[2];
  REQUIRE(::pipe(p) == 0);
  ::close(p[0]);  // no reader: a write gets EPIPE, and SIGPIPE unless it is held back
  ::dup2(p[1], 1);
  ::close(p[1]);
  mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
  const auto results = pool.map(
      [](int i) {
        std::printf("line %d\n", i);
        return i;
      },
      test::range(0, 20));
  ::dup2(saved, 1);
  ::close(saved);
  CHECK(results == test::range(0, 20));
}

TEST_CASE("a map worker that goes on to reduce prints each phase's lines with that phase's prefix", "[output]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  CapturedOutput captured(dir);
  mapreduce::Pool pool(
      {.workers = 2, .partitions = 4, .items_per_task = 1, .worker_output = mapreduce::WorkerOutput::prefixed});
  const auto result = pool.map_reduce<int, std::size_t>(
      test::range(0, 6),
      [](int i, auto& emit) {
        std::printf("mapped %d", i);  // no newline: the phase ends it, as an exit would
        std::fflush(stdout);
        emit(i % 3, 1);
      },
      mapreduce::per_key([](int key, std::span<const std::size_t> values) {
        std::printf("reduced %d\n", key);
        return values.size();
      }));
  captured.restore();
  CHECK(std::map<int, std::size_t>(result.begin(), result.end()) == std::map<int, std::size_t>{{0, 2}, {1, 2}, {2, 2}});
  CHECK(pool.last_stats().forked_workers == 2);  // the reduce lines came from map workers
  int mapped = 0, reduced = 0;
  for (const std::string& line : captured.out_lines()) {
    INFO(line);
    if (line.find("mapped") != std::string::npos) {
      CHECK_THAT(line, Catch::Matches(R"(\[map worker [12]( task \d)?\] (mapped \d)+)"));
      for (std::size_t at = line.find("mapped"); at != std::string::npos; at = line.find("mapped", at + 1)) ++mapped;
    } else {
      CHECK_THAT(line, Catch::Matches(R"(\[reduce worker [12] task \d\] reduced \d)"));
      ++reduced;
    }
  }
  CHECK(mapped == 6);
  CHECK(reduced == 3);
}
