// The word-count program end to end, as a user runs it.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support.hpp"

namespace {

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `args` (a shell command line after the program's path) and captures everything.
Run wordcount(const test::TempDir& dir, const std::string& args) {
  const auto err_path = dir.path() / "stderr.txt";
  const std::string cmd = fmt::format("'{}' {} 2>'{}'", WORDCOUNT_EXE, args, err_path.string());
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream e(err_path);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  return r;
}

std::string expected_output(const std::map<std::string, std::uint64_t>& counts, std::size_t top = 0) {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (top != 0 && v.size() > top) v.resize(top);
  std::string out;
  for (const auto& [w, n] : v) out += fmt::format("{}\t{}\n", w, n);
  return out;
}

}  // namespace

TEST_CASE("wordcount prints the reference counts, most frequent first", "[wordcount]") {
  test::TempDir dir;
  const std::string text = test::random_text(99, 400000);
  const auto file = dir.write("input with spaces.txt", text);
  const auto counts = test::reference_counts({text});
  const std::string quoted = "'" + file.string() + "'";

  const Run all = wordcount(dir, "--workers 2 --partitions 5 --chunk-bytes 10000 " + quoted);
  CHECK(all.status == 0);
  CHECK(all.err.empty());
  CHECK(all.out == expected_output(counts));

  const Run top = wordcount(dir, "--top 7 --workers 3 " + quoted);
  CHECK(top.status == 0);
  CHECK(top.out == expected_output(counts, 7));

  const Run piped = wordcount(dir, "--top 7 - < " + quoted);
  CHECK(piped.out == expected_output(counts, 7));
}

TEST_CASE("wordcount reads a pipe on standard input", "[wordcount]") {
  test::TempDir dir;
  const auto err_path = dir.path() / "err";
  const std::string cmd =
      fmt::format("printf 'b a B\\nc b' | '{}' --workers 2 - 2>'{}'", WORDCOUNT_EXE, err_path.string());
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  CHECK(::pclose(p) == 0);
  CHECK(out == "b\t3\na\t1\nc\t1\n");
}

TEST_CASE("wordcount with no FILE counts the project's own sources", "[wordcount]") {
  test::TempDir dir;
  const Run r = wordcount(dir, "--top 3");
  CHECK(r.status == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);
}

TEST_CASE("wordcount: usage and input errors are one line and exit 2", "[wordcount][errors]") {
  test::TempDir dir;
  const auto missing = (dir.path() / "missing.txt").string();
  Run r = wordcount(dir, "'" + missing + "'");
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err == "wordcount: " + missing + ": cannot open: No such file or directory\n");

  r = wordcount(dir, "'" + dir.path().string() + "'");
  CHECK(r.status == 2);
  CHECK(r.err == "wordcount: " + dir.path().string() + ": is a directory\n");

  for (const char* bad : {"--workers 0", "--workers 100000", "--top -1", "--top", "--frobnicate", "--partitions x"}) {
    INFO(bad);
    r = wordcount(dir, bad);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("wordcount: "));
    CHECK_THAT(r.err, Catch::Contains("\nusage: wordcount "));
  }

  r = wordcount(dir, "--help");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("A word is a maximal run of bytes"));
}
