// The engine's defaults from the machine (detail/system.hpp): the cgroup memory limit is
// parsed from given file texts, so containers of every kind are tested on any machine.
#include <sched.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <mapreduce/detail/system.hpp>

namespace {
using Files = std::map<std::string, std::string>;
auto reader(const Files& files) {
  return [&files](const std::string& path) -> std::optional<std::string> {
    const auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
}
double cpus_of(const std::string& self, const Files& files) {
  return mapreduce::detail::cgroup_cpu_limit(self, reader(files));
}
std::uint64_t limit_of(const std::string& self, const Files& files) {
  return mapreduce::detail::cgroup_memory_limit(self, reader(files));
}
}  // namespace

TEST_CASE("cgroup v2: memory.max of the cgroup or of any above it, the lowest") {
  CHECK(limit_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/memory.max", "629145600\n"}}) == 629145600);
  CHECK(limit_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/memory.max", "max\n"},
                                   {"/sys/fs/cgroup/app/memory.max", "1073741824\n"}}) == 1073741824);
  CHECK(limit_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/memory.max", "2000000000\n"},
                                   {"/sys/fs/cgroup/app/memory.max", "1000000000\n"}}) == 1000000000);
  // A container's namespace: the cgroup is the mount's root.
  CHECK(limit_of("0::/\n", {{"/sys/fs/cgroup/memory.max", "536870912\n"}}) == 536870912);
  CHECK(limit_of("0::/\n", {{"/sys/fs/cgroup/memory.max", "max\n"}}) == 0);
}

TEST_CASE("cgroup v1: memory.limit_in_bytes of the memory hierarchy; its 'no limit' is none") {
  const std::string self = "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/\n";
  CHECK(limit_of(self, {{"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", "629145600\n"}}) == 629145600);
  CHECK(limit_of(self, {{"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", "9223372036854771712\n"}}) ==
        0);
  CHECK(limit_of("5:cpuacct,memory:/x\n", {{"/sys/fs/cgroup/memory/x/memory.limit_in_bytes", "4096\n"}}) == 4096);
}

TEST_CASE("no cgroup, or files that cannot be read or parsed: no limit") {
  CHECK(limit_of("", {}) == 0);
  CHECK(limit_of("0::/a\n", {}) == 0);
  CHECK(limit_of("garbage\n", {{"/sys/fs/cgroup/memory.max", "1"}}) == 0);
  CHECK(limit_of("0::/a\n", {{"/sys/fs/cgroup/a/memory.max", "-5"}}) == 0);
  CHECK(limit_of("0::/a\n", {{"/sys/fs/cgroup/a/memory.max", ""}}) == 0);
}

TEST_CASE("the default budget is half of the memory this process may use") {
  CHECK(mapreduce::detail::usable_memory() > 0);
  CHECK(mapreduce::detail::default_shm_budget() == mapreduce::detail::usable_memory() / 2);
}

TEST_CASE("cgroup v2: cpu.max is a quota over a period, the lowest up the hierarchy; max is none") {
  CHECK(cpus_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/cpu.max", "200000 100000\n"}}) == 2.0);
  CHECK(cpus_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/cpu.max", "max 100000\n"},
                                  {"/sys/fs/cgroup/app/cpu.max", "150000 100000\n"}}) == 1.5);
  CHECK(cpus_of("0::/app/job\n", {{"/sys/fs/cgroup/app/job/cpu.max", "400000 100000\n"},
                                  {"/sys/fs/cgroup/cpu.max", "50000 100000\n"}}) == 0.5);
  CHECK(cpus_of("0::/\n", {{"/sys/fs/cgroup/cpu.max", "max 100000\n"}}) == 0);
  CHECK(cpus_of("0::/\n", {{"/sys/fs/cgroup/cpu.max", "garbage"}}) == 0);
}

TEST_CASE("cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us, -1 is none, cpu,cpuacct mounts") {
  const std::string self = "9:name=systemd:/\n4:memory:/m\n3:cpu,cpuacct:/docker/abc\n0::/\n";
  CHECK(cpus_of(self, {{"/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "300000\n"},
                       {"/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us", "100000\n"}}) == 3.0);
  // Only the combined name is mounted.
  CHECK(cpus_of(self, {{"/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n"},
                       {"/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"}}) == 0.5);
  CHECK(cpus_of(self, {{"/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "-1\n"},
                       {"/sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us", "100000\n"},
                       {"/sys/fs/cgroup/cpu/docker/cpu.cfs_quota_us", "200000\n"},
                       {"/sys/fs/cgroup/cpu/docker/cpu.cfs_period_us", "100000\n"}}) == 2.0);
  // The memory controller's files say nothing of CPUs.
  CHECK(cpus_of(self, {{"/sys/fs/cgroup/memory/m/cpu.cfs_quota_us", "100000\n"},
                       {"/sys/fs/cgroup/memory/m/cpu.cfs_period_us", "100000\n"}}) == 0);
  CHECK(cpus_of("", {}) == 0);
}

TEST_CASE("the default worker count is at least 1 and at most the affinity mask") {
  const unsigned cpus = mapreduce::detail::available_cpus();
  CHECK(cpus >= 1);
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof(set), &set) == 0);
  CHECK(cpus <= static_cast<unsigned>(CPU_COUNT(&set)));
}

TEST_CASE("count_threads sees the threads of this process come and go") {
  const unsigned before = mapreduce::detail::count_threads();
  CHECK(before >= 1);
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::thread t([&] {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return stop; });
  });
  CHECK(mapreduce::detail::count_threads() == before + 1);
  {
    std::lock_guard lock(m);
    stop = true;
  }
  cv.notify_one();
  t.join();
  CHECK(mapreduce::detail::count_threads() == before);
}
