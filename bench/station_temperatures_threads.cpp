// station_temperatures_threads: the threaded baseline of station_temperatures (the One
// Billion Row Challenge), as a whole program to time against it (bench/brc-bench), with the
// same parser and the same output. The straightforward design: the file mapped, cut into
// 1 MiB chunks at line ends, taken by threads from an atomic counter; each thread counts
// into one std::unordered_map from name (a view into the mapping) to Stat; the maps merged
// at the end.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/error.hpp>

#include "../examples/common/cli.hpp"
#include "../examples/patterns/station_format.hpp"
#include "mapped_file.hpp"

namespace {

using stations::Stat;

constexpr std::size_t kChunkBytes = std::size_t(1) << 20;

// One thread's table, on cache lines of its own: a neighbour's writes to its own would
// otherwise slow both (false sharing).
struct alignas(128) ThreadStats {
  std::unordered_map<std::string_view, Stat> by_name;
  std::uint64_t malformed = 0;
};

int run(int argc, char** argv) {
  unsigned threads = 2;
  std::string path;
  cli::App app("station_temperatures_threads",
               "Prints what station_temperatures prints for FILE, computed by threads, each with one\n"
               "std::unordered_map (the benchmark's baseline).");
  app.add_count("--threads", threads, 1, 1024, "threads (default: 2)");
  app.add_option("FILE", path, "lines \"name;value\"")->required()->type_name("");
  app.parse_command_line(argc, argv);

  const bench::MappedFile file(path);
  const std::vector<std::string_view> chunks = bench::pieces(file.text(), kChunkBytes);  // cut at line ends
  std::atomic<std::size_t> next_chunk{0};
  std::vector<ThreadStats> stats(threads);
  auto count = [&](ThreadStats& mine) {
    mine.by_name.reserve(1024);  // the challenge's inputs have a few hundred stations
    for (;;) {
      const std::size_t chunk = next_chunk.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= chunks.size()) return;
      mine.malformed += stations::for_each_reading(
          chunks[chunk], [&](std::string_view name, int tenths) { mine.by_name[name].add(tenths); });
    }
  };
  std::vector<std::thread> running;
  for (unsigned t = 0; t < threads; ++t) running.emplace_back(count, std::ref(stats[t]));
  for (std::thread& t : running) t.join();

  std::unordered_map<std::string_view, Stat> merged;
  std::uint64_t malformed = 0;
  for (const ThreadStats& s : stats) {
    for (const auto& [name, stat] : s.by_name) merged[name] = stations::merge(merged[name], stat);
    malformed += s.malformed;
  }
  const std::string line = stations::result_line({merged.begin(), merged.end()});
  std::fwrite(line.data(), 1, line.size(), stdout);
  if (malformed != 0) fmt::print(stderr, "station_temperatures_threads: skipped {} malformed lines\n", malformed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("station_temperatures_threads", [&] { return run(argc, argv); });
}
