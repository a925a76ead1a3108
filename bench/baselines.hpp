#pragma once
// The word-count baselines the Pool is measured against, in the same process and run:
// threads with private tables (the same tokenizer and table as the Pool, so the difference
// is what processes and shared memory cost), threads sharing one locked std::unordered_map
// (the naive way), and one thread with a std::unordered_map.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <mapreduce/mapreduce.hpp>

#include "mapped_file.hpp"

namespace bench {

using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

// Threads taking 1 MiB pieces from an atomic counter, each counting into a private table
// with the Pool's tokenizer and emit path, then one merge.
inline Counts threads_private_tables(std::string_view text, unsigned threads) {
  const auto work = pieces(text, std::size_t(1) << 20);
  std::atomic<std::size_t> next{0};
  using Buffer = mapreduce::detail::MapBuffer<std::string, std::uint64_t>;
  // Each thread's buffer on cache lines of its own: its counters are written per word, and
  // sharing a line with another thread's buffer would slow both (false sharing).
  struct alignas(128) PaddedBuffer {
    Buffer buffer{1, [](const void*, const std::uint64_t& a, const std::uint64_t& b) { return a + b; }, nullptr, true};
    char pad[128] = {};
  };
  std::vector<std::unique_ptr<PaddedBuffer>> padded;
  std::vector<Buffer*> buffers;
  for (unsigned t = 0; t < threads; ++t) {
    // A combine function selects combining; `sum` makes it an inline +, as for the Pool.
    padded.push_back(std::make_unique<PaddedBuffer>());
    buffers.push_back(&padded.back()->buffer);
  }
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      mapreduce::Emitter<std::string, std::uint64_t> emit(*buffers[t]);
      for (std::size_t i; (i = next.fetch_add(1)) < work.size();) {
        mapreduce::for_each_word(work[i], [&](std::string_view w) { emit(w, 1); });
      }
      buffers[t]->drain();
    });
  }
  for (auto& th : pool) th.join();
  mapreduce::detail::CombineTable<std::string, std::uint64_t, false> merged(buffers[0]->combined().size());
  auto plus = [](std::uint64_t a, std::uint64_t b) { return a + b; };
  for (const auto& b : buffers)
    b->combined().for_each([&](const auto& s) { merged.add(s.hash, s.key(), s.value, plus); });
  Counts out;
  out.reserve(merged.size());
  merged.for_each([&](const auto& s) { out.emplace_back(std::string(s.key()), s.value); });
  return out;
}

// Threads sharing one std::unordered_map behind a mutex: one lock per word.
inline Counts threads_locked_map(std::string_view text, unsigned threads) {
  const auto work = pieces(text, std::size_t(1) << 20);
  std::atomic<std::size_t> next{0};
  std::unordered_map<std::string, std::uint64_t> counts;
  std::mutex m;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < work.size();) {
        mapreduce::for_each_word(work[i], [&](std::string_view w) {
          std::lock_guard lock(m);
          ++counts[std::string(w)];
        });
      }
    });
  }
  for (auto& th : pool) th.join();
  return {counts.begin(), counts.end()};
}

// One thread, one std::unordered_map.
inline Counts serial_unordered_map(std::string_view text) {
  std::unordered_map<std::string, std::uint64_t> counts;
  mapreduce::for_each_word(text, [&](std::string_view w) { ++counts[std::string(w)]; });
  return {counts.begin(), counts.end()};
}

}  // namespace bench
