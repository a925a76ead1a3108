// The word-count program end to end, as a user runs it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <mapreduce/version.hpp>

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

// Starts wordcount with `args`, stdout to /dev/null and stderr to `err`; returns its pid.
pid_t start_wordcount(const std::vector<std::string>& args, const std::filesystem::path& err) {
  std::vector<char*> argv{const_cast<char*>(WORDCOUNT_EXE)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, WORDCOUNT_EXE, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

// Waits, generously, until wordcount has forked its map workers. A chunk of 64 bytes makes
// the job tens of thousands of tasks long, so it is still running when they are seen.
std::vector<pid_t> wait_for_workers(pid_t pid) {
  std::vector<pid_t> workers;
  for (int i = 0; i < 2000 && workers.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    workers = test::children_of(pid);
  }
  return workers;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), {}};
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

  // --verbose changes what workers print (they print nothing here), never the counts.
  const Run verbose = wordcount(dir, "--verbose --workers 2 " + quoted);
  CHECK(verbose.status == 0);
  CHECK(verbose.err.empty());
  CHECK(verbose.out == expected_output(counts));
}

TEST_CASE("wordcount reads a pipe on standard input", "[wordcount]") {
  test::TempDir dir;
  const auto err_path = dir.path() / "err";
  const std::string cmd = fmt::format("printf 'b a B\\nc b' | '{}' --workers 2 - 2>'{}'", WORDCOUNT_EXE,
                                      err_path.string());
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

TEST_CASE("wordcount: options as --name=value, short forms, --version", "[wordcount][options]") {
  test::TempDir dir;
  const auto file = dir.write("in.txt", "b a B c b\n");
  const std::string quoted = "'" + file.string() + "'";
  for (const char* options : {"--workers=2", "-w 2", "-w2 -p 3", "--workers 2 --partitions=3 --chunk-bytes=4",
                              "-w 2 --worker-memory 512M", "--worker-memory=1g"}) {
    INFO(options);
    const Run r = wordcount(dir, std::string(options) + " " + quoted);
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "b\t3\na\t1\nc\t1\n");
  }
  Run r = wordcount(dir, "-n 2 " + quoted);
  CHECK(r.out == "b\t3\na\t1\n");
  r = wordcount(dir, "--top=1 --sort=key --format=csv " + quoted);
  CHECK(r.out == "word,count\nb,3\n");
  const auto out = dir.path() / "out.tsv";
  r = wordcount(dir, "-o '" + out.string() + "' -n1 " + quoted);
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  CHECK(slurp(out) == "b\t3\n");

  r = wordcount(dir, "--version");
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out == fmt::format("wordcount (mapreduce) {}\n", mapreduce::version_string));
  CHECK(std::string(mapreduce::version_string) ==
        fmt::format("{}.{}.{}", MAPREDUCE_VERSION_MAJOR, MAPREDUCE_VERSION_MINOR, MAPREDUCE_VERSION_PATCH));

  r = wordcount(dir, "--help");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("usage: wordcount [--workers N] [--partitions P] [--top N]"));
  CHECK_THAT(r.out, Catch::Contains("\n  -w,--workers N "));
  CHECK_THAT(r.out, Catch::Contains("\n  --version "));
}

TEST_CASE("wordcount: a bad option is one line of error, then the usage, and exit 2", "[wordcount][errors]") {
  test::TempDir dir;
  const std::pair<const char*, const char*> cases[] = {
      {"--frobnicate", "The following argument was not expected: --frobnicate"},
      {"-x", "The following argument was not expected: -x"},
      {"--workers=x", "--workers takes a whole number from 1 to 1024, not 'x'"},
      {"-w 0", "--workers takes a whole number from 1 to 1024, not '0'"},
      {"-p 65537", "--partitions takes a whole number from 1 to 65536, not '65537'"},
      {"-n -1", "--top takes a whole number from 1 to 4294967295, not '-1'"},
      {"--chunk-bytes 1e3", "--chunk-bytes takes a whole number from 1 to 1099511627776, not '1e3'"},
      {"--sort=size", "--sort takes count or key, not 'size'"},
      {"--format xml", "--format takes tsv, csv or json, not 'xml'"},
      {"-o ''", "--output needs a file name"},
      {"--workers", "--workers: 1 required N missing"},
  };
  for (const auto& [options, message] : cases) {
    INFO(options);
    const Run r = wordcount(dir, options);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    const auto eol = r.err.find('\n');
    REQUIRE(eol != std::string::npos);
    CHECK(r.err.substr(0, eol) == std::string("wordcount: ") + message);
    CHECK_THAT(r.err.substr(eol + 1), Catch::StartsWith("usage: wordcount [--workers N]"));
    CHECK_THAT(r.err.substr(eol + 1), !Catch::Contains("wordcount: "));
  }
}

TEST_CASE("wordcount: SIGINT and SIGTERM stop the job, reap the workers, exit 130 and 143", "[wordcount][faults]") {
  test::TempDir dir;
  const auto file = dir.write("big.txt", test::random_text(77, 4 << 20));
  for (int sig : {SIGINT, SIGTERM}) {
    const auto before = test::dir_entries("/dev/shm");
    const auto err = dir.path() / "err";
    const pid_t pid = start_wordcount({"--workers", "2", "--chunk-bytes", "64", file.string()}, err);
    const auto workers = wait_for_workers(pid);
    REQUIRE_FALSE(workers.empty());
    REQUIRE(::kill(pid, sig) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 128 + sig);
    CHECK(slurp(err) == std::string("wordcount: interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + "\n");
    for (pid_t w : workers) CHECK_FALSE(test::alive(w));  // reaped by wordcount before it exited
    CHECK(test::dir_entries("/dev/shm") == before);
  }
}

TEST_CASE("wordcount killed with SIGKILL: no worker survives, nothing is left", "[wordcount][faults]") {
  test::TempDir dir;
  const auto file = dir.write("big.txt", test::random_text(78, 4 << 20));
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);  // orphaned workers come to this process
  const auto before = test::dir_entries("/dev/shm");
  const pid_t pid = start_wordcount({"--workers", "2", "--chunk-bytes", "64", file.string()}, dir.path() / "err");
  const auto workers = wait_for_workers(pid);
  REQUIRE_FALSE(workers.empty());
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(::waitpid(pid, nullptr, 0) == pid);
  // PR_SET_PDEATHSIG kills them at once; the generous wait only guards against a hang.
  for (int i = 0; i < 500 && std::any_of(workers.begin(), workers.end(), test::alive); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (pid_t w : workers) {
    CHECK_FALSE(test::alive(w));
    ::waitpid(w, nullptr, 0);
  }
  CHECK(test::dir_entries("/dev/shm") == before);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("wordcount: odd but valid inputs give the reference counts", "[wordcount][input]") {
  test::TempDir dir;
  std::string noise(300000, '\0');
  std::mt19937_64 rng(4);
  for (auto& c : noise) c = static_cast<char>(rng() % 256);  // random bytes: NULs, invalid UTF-8
  const auto random_bytes = dir.write("random.bin", noise);
  const auto empty = dir.write("empty", "");
  const std::string odd_name = "name with spaces and \xc3\xa9\xff bytes.txt";
  const auto odd = dir.write(odd_name, "Caf\xc3\xa9 caf\xc3\xa9 \xff\xfe");
  std::string one_line = test::random_text(8, 8 << 20);
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  const auto long_line = dir.write("long_line", one_line);  // 8 MiB, no newline: 128 chunks of 64 KiB
  const auto fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::thread writer([&] {
    std::ofstream f(fifo);
    f << "from a fifo FROM\n";
  });
  const Run r = wordcount(dir, "--workers 2 --chunk-bytes 65536 '" + random_bytes.string() + "' '" + empty.string() +
                                   "' '" + odd.string() + "' '" + long_line.string() + "' '" + fifo.string() + "'");
  writer.join();
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out == expected_output(test::reference_counts(
                     {noise, "", "Caf\xc3\xa9 caf\xc3\xa9 \xff\xfe", one_line, "from a fifo FROM\n"})));
}

TEST_CASE("wordcount: a file it may not read is an input error", "[wordcount][input]") {
  test::TempDir dir;
  const auto file = dir.write("secret.txt", "hidden words");
  REQUIRE(::chmod(file.c_str(), 0) == 0);
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  // root reads any file: run the program as nobody then.
  const std::string as = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  const auto err = dir.path() / "err";
  const std::string cmd = fmt::format("{}'{}' '{}' 2>'{}' >/dev/null", as, WORDCOUNT_EXE, file.string(), err.string());
  const int st = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 2);
  std::ifstream e(err);
  std::string msg((std::istreambuf_iterator<char>(e)), {});
  CHECK(msg == "wordcount: " + file.string() + ": cannot open: Permission denied\n");
}

TEST_CASE("wordcount: --sort, --format csv and json, --output", "[wordcount][output]") {
  test::TempDir dir;
  const auto file = dir.write("in.txt", "b a B c b\nA na\xc3\xafve\n");
  Run r = wordcount(dir, "--sort key '" + file.string() + "'");
  CHECK(r.out == "a\t2\nb\t3\nc\t1\nna\xc3\xafve\t1\n");
  r = wordcount(dir, "--top 2 --format csv '" + file.string() + "'");
  CHECK(r.out == "word,count\nb,3\na,2\n");
  r = wordcount(dir, "--top 2 --sort key --format json '" + file.string() + "'");
  CHECK(r.out == "[\n  {\"word\": \"a\", \"count\": 2},\n  {\"word\": \"b\", \"count\": 3}\n]\n");
  const auto out = dir.path() / "out.tsv";
  r = wordcount(dir, "--top 1 --output '" + out.string() + "' '" + file.string() + "'");
  CHECK(r.status == 0);
  CHECK(r.out.empty());
  std::ifstream f(out);
  CHECK(std::string(std::istreambuf_iterator<char>(f), {}) == "b\t3\n");
  for (const char* bad : {"--format xml", "--sort size", "--output"}) {
    INFO(bad);
    r = wordcount(dir, bad);
    CHECK(r.status == 2);
  }
  r = wordcount(dir, "--output /no/such/dir/out.tsv '" + file.string() + "'");
  CHECK(r.status == 1);
  CHECK(r.err == "wordcount: /no/such/dir/out.tsv: cannot open for writing: No such file or directory\n");
}

TEST_CASE("wordcount --progress draws a progress line on stderr; by default a pipe gets none", "[wordcount]") {
  test::TempDir dir;
  const auto file = dir.write("in.txt", test::random_text(5, 300000));
  Run r = wordcount(dir, "--progress --chunk-bytes 65536 --top 1 '" + file.string() + "'");
  CHECK(r.status == 0);
  CHECK_THAT(r.err, Catch::Contains("map 5/5 chunks"));
  CHECK_THAT(r.err, Catch::Contains("reduce "));
  CHECK_THAT(r.err, Catch::EndsWith("\r\033[K"));  // erased before the results
  r = wordcount(dir, "--chunk-bytes 65536 --top 1 '" + file.string() + "'");
  CHECK(r.err.empty());  // stderr is a file here, not a terminal
}
