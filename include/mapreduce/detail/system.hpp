#pragma once
// What the engine asks of the machine for its defaults. Declared here, defined in
// src/system.cpp, so no OS header reaches the code that includes it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace mapreduce::detail {

// The number of CPUs this process may use, at least 1: those of its affinity mask
// (sched_getaffinity), or its cgroup's CPU quota rounded up when that is fewer (a
// container's `--cpus 2` on a 64-core host is 2).
unsigned available_cpus() noexcept;

// The lowest CPU quota, in CPUs, set on the cgroup named in `proc_self_cgroup` or on any
// cgroup above it: cgroup v2's cpu.max ("200000 100000" is 2), else v1's
// cpu.cfs_quota_us / cpu.cfs_period_us. 0 when none is set. Pure, as cgroup_memory_limit.
double cgroup_cpu_limit(const std::string& proc_self_cgroup,
                        const std::function<std::optional<std::string>(const std::string&)>& read);

// The threads of this process, counted in /proc/self/task; 0 when that cannot be read.
unsigned count_threads() noexcept;

// The memory this process may use: the physical memory, or its cgroup's limit when that
// is lower (a container's).
std::uint64_t usable_memory() noexcept;

// The default budget: half of usable_memory().
std::size_t default_shm_budget() noexcept;

// The lowest memory limit set on the cgroup named in `proc_self_cgroup` (the text of
// /proc/self/cgroup) or on any cgroup above it: cgroup v2's memory.max, else v1's
// memory.limit_in_bytes. `read` returns a file's text, or nothing when it cannot be read.
// 0 when no limit is set. Pure: the caller does the reading.
std::uint64_t cgroup_memory_limit(const std::string& proc_self_cgroup,
                                  const std::function<std::optional<std::string>(const std::string&)>& read);

// The soft limit on open descriptors (RLIMIT_NOFILE) is process-wide, so the engine raises
// it only while a job needs it: when the descriptors it holds come within `headroom` of
// the soft limit (`highest_fd` is the highest it has seen), the soft limit goes up to the
// hard one. The original soft limit comes back when the last DescriptorLimitScope ends.
void ensure_descriptor_headroom(int highest_fd, int headroom) noexcept;

// The span of a job (or phase) that may raise the limit; they nest.
class DescriptorLimitScope {
 public:
  DescriptorLimitScope() noexcept;
  ~DescriptorLimitScope();
  DescriptorLimitScope(const DescriptorLimitScope&) = delete;
  DescriptorLimitScope& operator=(const DescriptorLimitScope&) = delete;
};

// The default spill directory: $TMPDIR, else /tmp.
std::string default_spill_dir();

}  // namespace mapreduce::detail
