// System queries for the engine's defaults, and wait statuses in words.
#include "mapreduce/detail/system.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "mapreduce/wait_status.hpp"

namespace mapreduce {

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{})", sig, abbrev != nullptr ? abbrev : "?");
  }
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return fmt::format("ended with wait status {}", status);
}

namespace detail {

unsigned available_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

namespace {
// A limit as a cgroup file writes it: a number of bytes, or "max" (none). v1 writes a
// number near 2^63 for no limit: anything above 2^60 is taken as none.
std::uint64_t parse_limit(const std::optional<std::string>& text) {
  if (!text) return 0;
  std::uint64_t v = 0;
  const char* p = text->data();
  const char* end = p + text->size();
  while (p != end && (*p == ' ' || *p == '\n')) ++p;
  if (p == end || *p < '0' || *p > '9') return 0;  // "max", or nothing
  for (; p != end && *p >= '0' && *p <= '9'; ++p) {
    if (v > (std::uint64_t(1) << 60)) return 0;
    v = v * 10 + static_cast<std::uint64_t>(*p - '0');
  }
  return v > (std::uint64_t(1) << 60) ? 0 : v;
}
}  // namespace

std::uint64_t cgroup_memory_limit(const std::string& proc_self_cgroup,
                                  const std::function<std::optional<std::string>(const std::string&)>& read) {
  std::uint64_t lowest = 0;
  auto consider = [&](const std::string& mount, std::string path, const char* file) {
    // The cgroup and every one above it, up to the mount's root: each one's limit applies.
    for (;;) {
      const std::uint64_t v = parse_limit(read(mount + path + (path == "/" ? "" : "/") + file));
      if (v != 0 && (lowest == 0 || v < lowest)) lowest = v;
      if (path == "/" || path.empty()) break;
      const auto slash = path.find_last_of('/');
      path = slash == 0 ? "/" : path.substr(0, slash);
    }
  };
  std::size_t at = 0;
  while (at < proc_self_cgroup.size()) {
    auto eol = proc_self_cgroup.find('\n', at);
    if (eol == std::string::npos) eol = proc_self_cgroup.size();
    const std::string line = proc_self_cgroup.substr(at, eol - at);
    at = eol + 1;
    // "hierarchy-ID:controllers:path"; v2 is "0::path".
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path = line.substr(c2 + 1);
    if (path.empty() || path[0] != '/') continue;
    if (line.compare(0, c1, "0") == 0 && controllers.empty()) {
      consider("/sys/fs/cgroup", path, "memory.max");
    } else {
      for (std::size_t b = 0; b <= controllers.size();) {
        auto e = controllers.find(',', b);
        if (e == std::string::npos) e = controllers.size();
        if (controllers.compare(b, e - b, "memory") == 0)
          consider("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
        b = e + 1;
      }
    }
  }
  return lowest;
}

std::uint64_t usable_memory() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t ram = pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : std::uint64_t(2) << 30;
  try {
    auto read = [](const std::string& path) -> std::optional<std::string> {
      std::ifstream f(path);
      if (!f) return std::nullopt;
      std::ostringstream s;
      s << f.rdbuf();
      return s.str();
    };
    const auto self = read("/proc/self/cgroup");
    if (self) {
      const std::uint64_t limit = cgroup_memory_limit(*self, read);
      if (limit != 0 && limit < ram) ram = limit;
    }
  } catch (...) {  // no cgroup to read: the machine's memory it is
  }
  return ram;
}

std::size_t default_shm_budget() noexcept { return static_cast<std::size_t>(usable_memory() / 2); }

std::string default_spill_dir() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? std::string(t) : std::string("/tmp");
}

}  // namespace detail
}  // namespace mapreduce
