// Jobs without a combiner through the Pool: every pair shuffled, grouped in the reducers
// (detail/record_buffer.hpp, detail/key_grouper.hpp), against references made in this
// process; with spilling, and with the workers' memory read from /proc while a job runs.
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/mapreduce.hpp>

#include "support.hpp"

namespace {

// The pairs item i emits: about 200 of them, keys of 0 to 4 KiB (most short) from a seeded
// vocabulary, and "hot", a key that holds about half of all pairs.
template <class Emit>
void emit_item(std::uint32_t i, const std::vector<std::string>& vocab, Emit&& emit) {
  std::mt19937_64 rng(i);
  const int n = 100 + static_cast<int>(rng() % 200);
  for (int j = 0; j < n; ++j) {
    const std::uint64_t value = (std::uint64_t(i) << 20) | static_cast<std::uint64_t>(j);
    emit(rng() % 2 == 0 ? std::string_view("hot") : std::string_view(vocab[rng() % vocab.size()]), value);
  }
}

std::vector<std::string> vocabulary() {
  std::mt19937_64 rng(99);
  std::vector<std::string> vocab{""};
  for (int i = 0; i < 3000; ++i) {
    const std::size_t len = i % 300 == 0 ? 1 + rng() % 4096 : 1 + rng() % 16;
    std::string k;
    for (std::size_t c = 0; c < len; ++c) k += static_cast<char>(rng() % 256);
    vocab.push_back(k);
  }
  return vocab;
}

// An order-sensitive digest of a key's values, and their count.
struct Digest {
  std::uint64_t count = 0;
  std::uint64_t fold = 0;
  bool operator==(const Digest&) const = default;
};
Digest digest(std::span<const std::uint64_t> values) {
  Digest d;
  for (const std::uint64_t v : values) {
    d.fold = (d.fold ^ v) * 0x100000001b3ULL;
    ++d.count;
  }
  return d;
}

// The memory of this process's children, as PSS of anonymous and shared-memory pages (the
// page cache of files, spill files included, is the kernel's to evict, and not counted).
std::uint64_t children_pss_bytes() {
  std::uint64_t total = 0;
  std::ifstream list("/proc/self/task/" + std::to_string(::getpid()) + "/children");
  pid_t pid;
  while (list >> pid) {
    std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string line;
    while (std::getline(rollup, line)) {
      if (line.rfind("Pss_Anon:", 0) == 0) total += std::stoull(line.substr(9)) * 1024;
      if (line.rfind("Pss_Shmem:", 0) == 0) total += std::stoull(line.substr(10)) * 1024;
    }
  }
  return total;
}

}  // namespace

TEST_CASE("per-key reducers over seeded random pairs equal a single-process reference", "[shuffle]") {
  test::LeakCheck leaks;
  const auto vocab = vocabulary();
  const auto items = test::range(std::uint32_t(0), std::uint32_t(3000));
  std::map<std::string, std::vector<std::uint64_t>> values;
  for (const std::uint32_t i : items) {
    emit_item(i, vocab, [&](std::string_view k, std::uint64_t v) { values[std::string(k)].push_back(v); });
  }
  std::map<std::string, Digest> expected;
  for (const auto& [k, v] : values) expected[k] = digest(v);
  for (const unsigned workers : {1u, 2u, 3u}) {
    for (const unsigned partitions : {0u, 7u}) {
      mapreduce::Pool pool({.workers = workers, .partitions = partitions, .items_per_task = 37});
      auto result = pool.map_reduce<std::string, std::uint64_t>(
          items, [&](std::uint32_t i, auto& emit) { emit_item(i, vocab, emit); },
          mapreduce::per_key([](auto, auto v) { return digest(v); }));
      std::map<std::string, Digest> got;
      for (auto& [k, d] : result) REQUIRE(got.emplace(k, d).second);
      INFO(workers << " workers, " << partitions << " partitions");
      CHECK(got == expected);
      CHECK(expected.at("hot").count > pool.last_stats().records / 3);
    }
  }
}

TEST_CASE("a job without a combiner over items gets 64 partitions per worker, up to 256", "[shuffle]") {
  test::LeakCheck leaks;
  const test::TempDir tmp;
  const auto items = test::range(std::uint32_t(0), std::uint32_t(50));
  auto mapper = [](std::uint32_t i, auto& emit) { emit(std::uint64_t(i % 7), std::uint64_t(i)); };
  auto count = mapreduce::per_key([](auto, auto v) { return std::uint64_t(v.size()); });
  struct Case {
    unsigned workers, partitions;
    std::size_t files;
  };
  int n = 0;
  for (const Case c : {Case{1, 0, 64}, Case{2, 0, 128}, Case{5, 0, 256}, Case{2, 9, 9}}) {
    INFO(c.workers << " workers, partitions option " << c.partitions);
    mapreduce::Pool pool({.workers = c.workers, .partitions = c.partitions});
    const auto written = pool.map_reduce_to_files<std::uint64_t, std::uint64_t>(
        items, mapper, count, {.directory = tmp.path() / std::to_string(n++), .format = mapreduce::PartFormat::tsv});
    CHECK(written.files.size() == c.files);  // one part file per partition, empty ones included
  }
  // A job with a combiner keeps the Pool's 4 per worker.
  mapreduce::Pool pool({.workers = 2});
  const auto written = pool.map_reduce_to_files<std::uint64_t, std::uint64_t>(
      items, mapper, [](std::uint64_t a, std::uint64_t b) { return a + b; },
      {.directory = tmp.path() / "combined", .format = mapreduce::PartFormat::tsv});
  CHECK(written.files.size() == 8);
}

TEST_CASE("ten million distinct keys", "[shuffle]") {
  test::LeakCheck leaks;
  constexpr std::uint64_t per_item = 100000;
  const auto items = test::range(std::uint64_t(0), std::uint64_t(100));
  mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
  auto result = pool.map_reduce<std::uint64_t, std::uint64_t>(
      items,
      [](std::uint64_t i, auto& emit) {
        for (std::uint64_t j = 0; j < per_item; ++j) emit(i * per_item + j, 3 * (i * per_item + j));
      },
      [](std::uint64_t, std::span<const std::uint64_t> v) { return v.size() == 1 ? v[0] : ~std::uint64_t(0); });
  REQUIRE(result.size() == 100 * per_item);
  std::sort(result.begin(), result.end());
  std::uint64_t wrong = 0;
  for (std::uint64_t k = 0; k < result.size(); ++k) {
    if (result[k].first != k || result[k].second != 3 * k) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("a job whose runs are four times its budget spills, with exactly the unlimited result", "[shuffle]") {
  test::LeakCheck leaks;
  const auto items = test::range(std::uint32_t(0), std::uint32_t(200));
  auto mapper = [](std::uint32_t i, auto& emit) {
    std::mt19937_64 rng(i);
    for (int j = 0; j < 16000; ++j) emit(rng() % 200000, (std::uint64_t(i) << 20) | static_cast<std::uint64_t>(j));
  };
  auto reducer = mapreduce::per_key([](auto, auto v) { return digest(v).fold; });
  mapreduce::Pool unlimited({.workers = 2});
  const auto expected = unlimited.map_reduce<std::uint64_t, std::uint64_t>(items, mapper, reducer);
  const std::uint64_t intermediate = unlimited.last_stats().shared_bytes;
  REQUIRE(intermediate > (std::uint64_t(48) << 20));
  mapreduce::Pool small({.workers = 2, .shm_budget = intermediate / 4});
  CHECK(small.map_reduce<std::uint64_t, std::uint64_t>(items, mapper, reducer) == expected);
  CHECK(small.last_stats().spilled_bytes > intermediate / 2);
}

TEST_CASE("workers hold no more than the budget plus 64 MiB each, whatever the intermediate data", "[shuffle]") {
  test::LeakCheck leaks;
  constexpr std::size_t budget = std::size_t(48) << 20;
  std::uint64_t peak = 0;
  mapreduce::Pool pool(
      {.workers = 2, .shm_budget = budget, .items_per_task = 1, .progress = [&](const mapreduce::Progress&) {
         peak = std::max(peak, children_pss_bytes());
       }});
  // 20 M pairs, about 260 MB of runs: more than the bound, were they held in the workers.
  const auto items = test::range(std::uint32_t(0), std::uint32_t(200));
  auto counts = pool.map_reduce<std::uint64_t, std::uint32_t>(
      items,
      [](std::uint32_t i, auto& emit) {
        for (std::uint32_t j = 0; j < 100000; ++j) emit((std::uint64_t(i) * 7919 + j) % 1000003, i);
      },
      mapreduce::per_key([](auto, auto v) { return std::uint64_t(v.size()); }));
  std::uint64_t total = 0;
  for (const auto& [k, n] : counts) total += n;
  CHECK(total == 20000000);
  const auto& stats = pool.last_stats();
  INFO("peak PSS of the workers " << (peak >> 20) << " MiB; " << ((stats.shared_bytes + stats.spilled_bytes) >> 20)
                                  << " MiB of runs");
  CHECK(stats.shared_bytes + stats.spilled_bytes > budget + 2 * (std::size_t(64) << 20));  // not met by accident
  CHECK(peak > 0);
  CHECK(peak <= budget + 2 * (std::size_t(64) << 20));
}
