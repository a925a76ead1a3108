#pragma once
// Shared by the tests: temporary files, seeded random text, a single-process reference
// word count, and the checks that a job left nothing behind.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/error.hpp>
#include <mapreduce/text.hpp>

namespace test {

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mapreduce-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto p = path_ / name;
    std::ofstream f(p, std::ios::binary);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    return p;
  }

 private:
  std::filesystem::path path_;
};

// Seeded text: words from a skewed vocabulary (some upper-case, some UTF-8), separated
// by spaces and punctuation, in lines of random length.
inline std::string random_text(std::uint64_t seed, std::size_t bytes) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> vocab;
  const char* utf8[] = {"\xc3\xa9t\xc3\xa9", "na\xc3\xafve", "\xe6\x97\xa5\xe6\x9c\xac", "stra\303\237e"};
  for (int i = 0; i < 3000; ++i) {
    std::string w;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int j = 0; j < len; ++j) w += static_cast<char>('a' + rng() % 26);
    if (i % 17 == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
    if (i % 29 == 0) w += std::to_string(i);
    if (i % 101 == 0) w += utf8[i % 4];
    vocab.push_back(w);
  }
  const char* seps[] = {" ", " ", " ", ", ", ". ", " -- ", "\t", "(", ") ", "'"};
  std::string out;
  out.reserve(bytes + 64);
  std::size_t line = 0;
  while (out.size() < bytes) {
    // Skewed: small indices are far more frequent, like words in real text.
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const auto idx = static_cast<std::size_t>(std::pow(u, 3.0) * static_cast<double>(vocab.size()));
    out += vocab[std::min(idx, vocab.size() - 1)];
    if (++line > 3 + rng() % 20) {
      out += '\n';
      line = 0;
    } else {
      out += seps[rng() % std::size(seps)];
    }
  }
  return out;
}

// The word counts of `text`, counted in this process with a std::unordered_map.
inline std::map<std::string, std::uint64_t> reference_counts(const std::vector<std::string>& texts) {
  std::unordered_map<std::string, std::uint64_t> counts;
  for (const auto& t : texts) mapreduce::for_each_word(t, [&](std::string_view w) { ++counts[std::string(w)]; });
  return {counts.begin(), counts.end()};
}

template <class Pairs>
std::map<std::string, std::uint64_t> as_map(const Pairs& pairs) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& [k, v] : pairs) {
    REQUIRE(m.emplace(std::string(k), v).second);  // every key exactly once
  }
  return m;
}

inline std::set<std::string> dir_entries(const char* dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

inline std::size_t open_fds() {
  std::size_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) ++n;
  return n;
}

inline bool maps_shared_segment() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("memfd:mapreduce") != std::string::npos) return true;
  }
  return false;
}

// Checks, at the end of its scope, that the jobs run inside it left no child process
// (running or zombie), no descriptor, no mapping of a segment and no /dev/shm entry.
class LeakCheck {
 public:
  LeakCheck() : shm_(dir_entries("/dev/shm")), fds_(open_fds()) {}
  ~LeakCheck() {
    CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
    CHECK(errno == ECHILD);
    CHECK(open_fds() == fds_);
    CHECK_FALSE(maps_shared_segment());
    CHECK(dir_entries("/dev/shm") == shm_);
  }
  LeakCheck(const LeakCheck&) = delete;
  LeakCheck& operator=(const LeakCheck&) = delete;

 private:
  std::set<std::string> shm_;
  std::size_t fds_;
};

// The integers [first, last) as a vector. Tests use it instead of std::views::iota, which
// clang 14 cannot compile over libstdc++ 12; the library takes either.
template <class T>
std::vector<T> range(T first, T last) {
  std::vector<T> v;
  for (T i = first; i < last; ++i) v.push_back(i);
  return v;
}

// The message of the JobError that `job` throws, or "no error".
inline std::string job_error(const std::function<void()>& job) {
  try {
    job();
  } catch (const mapreduce::JobError& e) {
    return e.what();
  }
  return "no error";
}

// The live (not zombie) children of `parent`, read from /proc.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z') out.push_back(std::stoi(name));
  }
  return out;
}

// Whether `pid` is running (a zombie is not).
inline bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && line[close + 2] != 'Z';
}

}  // namespace test
