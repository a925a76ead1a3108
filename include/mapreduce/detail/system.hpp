#pragma once
// What the engine asks of the machine for its defaults. Declared here, defined in
// src/system.cpp, so no OS header reaches the code that includes it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace mapreduce::detail {

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned available_cpus() noexcept;

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

// The default spill directory: $TMPDIR, else /tmp.
std::string default_spill_dir();

}  // namespace mapreduce::detail
