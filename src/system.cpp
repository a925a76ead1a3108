// System queries for the engine's defaults, and wait statuses in words.
#include "mapreduce/detail/system.hpp"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
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

namespace {
std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

unsigned available_cpus() noexcept {
  unsigned cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) cpus = static_cast<unsigned>(std::max(0, CPU_COUNT(&set)));
  if (cpus == 0) {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpus = n > 0 ? static_cast<unsigned>(n) : 1;
  }
  try {
    // A quota of 1.5 CPUs is 2 workers: the half CPU is still time a worker can use.
    const auto self = read_file("/proc/self/cgroup");
    const double quota = self ? cgroup_cpu_limit(*self, read_file) : 0;
    if (quota > 0 && quota < double(cpus)) cpus = std::max(1u, static_cast<unsigned>(std::ceil(quota)));
  } catch (...) {  // no cgroup to read: the affinity mask it is
  }
  return cpus;
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

namespace {
// Calls visit(directory) for the cgroup that `proc_self_cgroup` names for `controller`
// (v1), or for the unified hierarchy (v2, when `controller` is null), and for every cgroup
// above it up to its mount's root: a limit set on any of them applies.
template <class Visit>
void for_each_cgroup(const std::string& proc_self_cgroup, const char* controller, Visit&& visit) {
  auto walk = [&](const std::string& mount, std::string path) {
    for (;;) {
      visit(mount + path + (path == "/" ? "" : "/"));
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
      if (controller == nullptr) walk("/sys/fs/cgroup", path);
      continue;
    }
    if (controller == nullptr) continue;
    for (std::size_t b = 0; b <= controllers.size();) {
      auto e = controllers.find(',', b);
      if (e == std::string::npos) e = controllers.size();
      if (controllers.compare(b, e - b, controller) == 0) {
        // Mounted under its own name, or under the list of those it shares a hierarchy
        // with ("cpu,cpuacct"), the other name being a link.
        walk(std::string("/sys/fs/cgroup/") + controller, path);
        if (controllers != controller) walk("/sys/fs/cgroup/" + controllers, path);
      }
      b = e + 1;
    }
  }
}

// The lower of two limits, 0 standing for none.
template <class T>
T lower_limit(T a, T b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}
}  // namespace

std::uint64_t cgroup_memory_limit(const std::string& proc_self_cgroup,
                                  const std::function<std::optional<std::string>(const std::string&)>& read) {
  std::uint64_t lowest = 0;
  for_each_cgroup(proc_self_cgroup, nullptr,
                  [&](const std::string& dir) { lowest = lower_limit(lowest, parse_limit(read(dir + "memory.max"))); });
  for_each_cgroup(proc_self_cgroup, "memory", [&](const std::string& dir) {
    lowest = lower_limit(lowest, parse_limit(read(dir + "memory.limit_in_bytes")));
  });
  return lowest;
}

double cgroup_cpu_limit(const std::string& proc_self_cgroup,
                        const std::function<std::optional<std::string>(const std::string&)>& read) {
  double lowest = 0;
  auto quota = [](std::uint64_t q, std::uint64_t period) {
    return q != 0 && period != 0 ? double(q) / double(period) : 0.0;
  };
  for_each_cgroup(proc_self_cgroup, nullptr, [&](const std::string& dir) {
    // "max 100000" (no quota) or "200000 100000": the quota and the period, in microseconds.
    const auto text = read(dir + "cpu.max");
    if (!text) return;
    const auto space = text->find(' ');
    if (space == std::string::npos) return;
    lowest = lower_limit(lowest, quota(parse_limit(text->substr(0, space)), parse_limit(text->substr(space + 1))));
  });
  for_each_cgroup(proc_self_cgroup, "cpu", [&](const std::string& dir) {
    // v1 writes -1 for no quota: parse_limit reads that as none.
    lowest = lower_limit(
        lowest, quota(parse_limit(read(dir + "cpu.cfs_quota_us")), parse_limit(read(dir + "cpu.cfs_period_us"))));
  });
  return lowest;
}

namespace {
unsigned count_threads_once() noexcept {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  unsigned n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}
}  // namespace

unsigned count_threads() noexcept {
  // pthread_join returns a little before the kernel takes the joined thread out of
  // /proc/self/task: a thread joined just now may still be listed. Count again for up to
  // 50 ms before saying there are others; a process with one thread pays one count.
  unsigned n = count_threads_once();
  for (int i = 0; i < 50 && n > 1; ++i) {
    ::usleep(1000);
    n = count_threads_once();
  }
  return n;
}

std::uint64_t usable_memory() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t ram = pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : std::uint64_t(2) << 30;
  try {
    const auto self = read_file("/proc/self/cgroup");
    if (self) {
      const std::uint64_t limit = cgroup_memory_limit(*self, read_file);
      if (limit != 0 && limit < ram) ram = limit;
    }
  } catch (...) {  // no cgroup to read: the machine's memory it is
  }
  return ram;
}

std::size_t default_shm_budget() noexcept { return static_cast<std::size_t>(usable_memory() / 2); }

namespace {
std::mutex descriptor_limit_mutex;
unsigned descriptor_scopes = 0;
bool descriptor_limit_raised = false;
rlim_t descriptor_soft_limit_before = 0;
}  // namespace

void ensure_descriptor_headroom(int highest_fd, int headroom) noexcept {
  const std::lock_guard lock(descriptor_limit_mutex);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  if (static_cast<rlim_t>(highest_fd) + static_cast<rlim_t>(headroom) < lim.rlim_cur) return;
  const rlim_t before = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (!descriptor_limit_raised) {
    descriptor_limit_raised = true;
    descriptor_soft_limit_before = before;
  }
}

DescriptorLimitScope::DescriptorLimitScope() noexcept {
  const std::lock_guard lock(descriptor_limit_mutex);
  ++descriptor_scopes;
}

DescriptorLimitScope::~DescriptorLimitScope() {
  const std::lock_guard lock(descriptor_limit_mutex);
  if (--descriptor_scopes != 0 || !descriptor_limit_raised) return;
  // Descriptors the job leaves open (a Dataset's segments) stay valid whatever the limit,
  // but with them near it no new one could open: the limit comes back only as far as that
  // leaves room.
  int highest = 2;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) highest = std::max(highest, std::atoi(e->d_name));
    ::closedir(d);
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = std::min(lim.rlim_max, std::max(descriptor_soft_limit_before, static_cast<rlim_t>(highest) + 64));
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  descriptor_limit_raised = false;
}

std::string default_spill_dir() {
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? std::string(t) : std::string("/tmp");
}

}  // namespace detail
}  // namespace mapreduce
