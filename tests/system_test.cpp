// The engine's defaults from the machine (detail/system.hpp): the cgroup memory limit is
// parsed from given file texts, so containers of every kind are tested on any machine.
#include <map>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <mapreduce/detail/system.hpp>

namespace {
using Files = std::map<std::string, std::string>;
std::uint64_t limit_of(const std::string& self, const Files& files) {
  return mapreduce::detail::cgroup_memory_limit(self, [&](const std::string& path) -> std::optional<std::string> {
    const auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  });
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
