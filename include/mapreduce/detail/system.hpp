#pragma once
// What the engine asks of the machine for its defaults. Declared here, defined in
// src/system.cpp, so no OS header reaches the code that includes it.
#include <cstddef>
#include <string>

namespace mapreduce::detail {

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned available_cpus() noexcept;

// The default shared-memory budget: half of the physical memory.
std::size_t default_shm_budget() noexcept;

// The default spill directory: $TMPDIR, else /tmp.
std::string default_spill_dir();

}  // namespace mapreduce::detail
