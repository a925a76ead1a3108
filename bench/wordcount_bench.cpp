// The benchmark suite: the Pool beside its baselines, measured in the same run.
//
//   MAPREDUCE_BENCH_DATA=bench/data build/release/bench/mapreduce_bench
//
// Inputs are the files bench/prepare-inputs makes (english-NM.txt, wide-NM.txt, zipf-NM.txt); every
// benchmark reports bytes per second of input, wall-clock time (the work is in other
// processes or threads), and is registered for each input found.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <ranges>
#include <string>
#include <vector>

#include <mapreduce/detail/system.hpp>
#include <mapreduce/mapreduce.hpp>

#include "baselines.hpp"

namespace {

namespace fs = std::filesystem;

struct Input {
  std::string name;  // e.g. "english-256M"
  std::string path;
  std::size_t mib;
};

std::vector<Input> find_inputs() {
  const char* dir = std::getenv("MAPREDUCE_BENCH_DATA");
  std::vector<Input> out;
  if (dir == nullptr) return out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string stem = e.path().stem().string();
    const auto dash = stem.rfind('-');
    if (e.path().extension() != ".txt" || dash == std::string::npos || stem.back() != 'M') continue;
    const std::string corpus = stem.substr(0, dash);
    if (corpus != "english" && corpus != "zipf" && corpus != "wide") continue;
    out.push_back(Input{stem, e.path().string(), std::stoul(stem.substr(dash + 1))});
  }
  std::sort(out.begin(), out.end(), [](const Input& a, const Input& b) {
    return std::tie(a.name.front(), a.mib) < std::tie(b.name.front(), b.mib);
  });
  return out;
}

std::vector<unsigned> worker_counts() {
  std::vector<unsigned> w{1, 2};
  const unsigned all = mapreduce::detail::available_cpus();
  if (all > 2) {
    for (unsigned n = 4; n < all; n *= 2) w.push_back(n);
    w.push_back(all);
  }
  return w;
}

void word_mapper(std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
}

// Every benchmark sets the same counters: the CSV output needs one set of columns.
void counters(benchmark::State& state, std::size_t keys, double shm_mib) {
  state.counters["distinct"] = static_cast<double>(keys);
  state.counters["shm_MiB"] = shm_mib;
}

void report(benchmark::State& state, const Input& in, std::size_t keys, double shm_mib = 0) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(in.mib << 20));
  counters(state, keys, shm_mib);
}

void pool_wordcount(benchmark::State& state, Input in, unsigned workers) {
  mapreduce::Pool pool({.workers = workers});
  std::size_t keys = 0;
  for (auto _ : state) {
    auto r = pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{in.path}}, word_mapper, std::plus<>{});
    keys = r.size();
    benchmark::DoNotOptimize(r.data());
  }
  report(state, in, keys, static_cast<double>(pool.last_stats().shared_bytes) / (1 << 20));
}

template <class Fn>
void baseline(benchmark::State& state, const Input& in, Fn fn) {
  bench::MappedFile file(in.path);
  std::size_t keys = 0;
  for (auto _ : state) {
    auto r = fn(file.text());
    keys = r.size();
    benchmark::DoNotOptimize(r.data());
  }
  report(state, in, keys);
}

// Fixed costs: a job with no input forks nothing; a job of two items forks two map and two
// reduce workers, makes their segments and reaps them.
void empty_job(benchmark::State& state) {
  mapreduce::Pool pool({.workers = 2});
  for (auto _ : state) {
    auto r = pool.map_reduce<int, int>(
        std::vector<int>{}, [](int i, auto& emit) { emit(i, i); }, std::plus<>{});
    benchmark::DoNotOptimize(r.data());
  }
  counters(state, 0, 0);
}
void tiny_job(benchmark::State& state) {
  mapreduce::Pool pool({.workers = 2});
  const std::vector<int> items{1, 2};
  for (auto _ : state) {
    auto r = pool.map_reduce<int, int>(
        items, [](int i, auto& emit) { emit(i, i); }, std::plus<>{});
    benchmark::DoNotOptimize(r.data());
  }
  counters(state, 2, static_cast<double>(pool.last_stats().shared_bytes) / (1 << 20));
}

// The same tiny job run through a ForkServer, as a program with threads must: one more fork
// (of the small server) per job, the job process's own Pool, and the result encoded back.
mapreduce::ForkServer* fork_server = nullptr;
void tiny_job_fork_server(benchmark::State& state) {
  for (auto _ : state) {
    auto r = fork_server->run([] {
      mapreduce::Pool pool({.workers = 2});
      return pool.map_reduce<int, int>(
          std::vector<int>{1, 2}, [](int i, auto& emit) { emit(i, i); }, std::plus<>{});
    });
    benchmark::DoNotOptimize(r.data());
  }
  counters(state, 2, 0);
}

// Results as they come: 1000 cheap items through imap, a task per item and 16 per task,
// against Pool::map of the same items (all results at the end): the price of a round trip
// and a segment per task, which ImapOptions::chunk amortizes.
void items_map(benchmark::State& state) {
  mapreduce::Pool pool({.workers = 2});
  std::vector<std::int64_t> items(1000);
  for (std::size_t i = 0; i < items.size(); ++i) items[i] = static_cast<std::int64_t>(i);
  for (auto _ : state) {
    auto r = pool.map([](std::int64_t x) { return x * x; }, items);
    benchmark::DoNotOptimize(r.data());
  }
  counters(state, items.size(), 0);
}
void items_imap(benchmark::State& state, std::size_t chunk) {
  mapreduce::Pool pool({.workers = 2});
  std::vector<std::int64_t> items(1000);
  for (std::size_t i = 0; i < items.size(); ++i) items[i] = static_cast<std::int64_t>(i);
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (std::int64_t r : pool.imap([](std::int64_t x) { return x * x; }, items, {.chunk = chunk})) sum += r;
    benchmark::DoNotOptimize(sum);
  }
  counters(state, items.size(), 0);
}

// Every pair through shared memory: the same word count with a per-key reducer.
void no_combiner(benchmark::State& state, Input in, unsigned workers) {
  mapreduce::Pool pool({.workers = workers});
  std::size_t keys = 0;
  for (auto _ : state) {
    auto r = pool.map_reduce<std::string, std::uint32_t>(
        mapreduce::FileInput{{in.path}},
        [](std::string_view chunk, auto& emit) {
          mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, std::uint32_t(1)); });
        },
        [](std::string_view, std::span<const std::uint32_t> ones) { return std::uint64_t(ones.size()); });
    keys = r.size();
  }
  report(state, in, keys);
}

// A general reducer: word -> the sorted, distinct 64 KiB blocks of the file it occurs in.
void inverted_index(benchmark::State& state, Input in, unsigned workers) {
  bench::MappedFile file(in.path);
  const auto docs = bench::pieces(file.text(), 64 << 10);
  std::vector<std::uint32_t> doc_ids(docs.size());
  for (std::uint32_t i = 0; i < doc_ids.size(); ++i) doc_ids[i] = i;
  mapreduce::Pool pool({.workers = workers});
  std::size_t keys = 0;
  for (auto _ : state) {
    auto r = pool.map_reduce<std::string, std::uint32_t>(
        doc_ids,
        [&docs](std::uint32_t d, auto& emit) {
          mapreduce::for_each_word(docs[d], [&](std::string_view w) { emit(w, d); });
        },
        [](std::string_view, std::span<const std::uint32_t> ds) {
          std::vector<std::uint32_t> v(ds.begin(), ds.end());
          v.erase(std::unique(v.begin(), v.end()), v.end());
          return v;
        });
    keys = r.size();
  }
  report(state, in, keys);
}

// A byte histogram: 256 small integer keys, hashed or through DenseKeys.
void histogram(benchmark::State& state, Input in, unsigned workers, bool dense) {
  mapreduce::Pool pool({.workers = workers});
  std::size_t keys = 0;
  for (auto _ : state) {
    auto mapper = [](std::string_view chunk, auto& emit) {
      for (unsigned char c : chunk) emit(std::uint32_t(c), std::uint64_t(1));
    };
    auto r = dense ? pool.map_reduce<std::uint32_t, std::uint64_t>(mapreduce::FileInput{{in.path}}, mapper,
                                                                   std::plus<>{}, mapreduce::DenseKeys{256})
                   : pool.map_reduce<std::uint32_t, std::uint64_t>(mapreduce::FileInput{{in.path}}, mapper,
                                                                   std::plus<>{});
    keys = r.size();
  }
  report(state, in, keys);
}

}  // namespace

int main(int argc, char** argv) {
  mapreduce::ForkServer server;  // first: while this is the only thread
  fork_server = &server;
  benchmark::Initialize(&argc, argv);
  const auto inputs = find_inputs();
  if (inputs.empty()) {
    std::fprintf(stderr, "mapreduce_bench: set MAPREDUCE_BENCH_DATA to a directory made by bench/prepare-inputs\n");
  }
  const auto workers = worker_counts();
  auto reg = [](const std::string& name, auto fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  benchmark::RegisterBenchmark("fixed/empty_job", empty_job)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("fixed/tiny_job", tiny_job)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("fixed/tiny_job_fork_server", tiny_job_fork_server)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("fixed/map_1000_items", items_map)->UseRealTime()->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("fixed/imap_1000_items_chunk_1", [](benchmark::State& s) { items_imap(s, 1); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("fixed/imap_1000_items_chunk_16", [](benchmark::State& s) { items_imap(s, 16); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  for (const auto& in : inputs) {
    const double min_time = in.mib >= 256 ? 0.1 : 0.5;  // big inputs: one iteration is plenty
    for (unsigned w : workers) {
      reg("wordcount/pool/" + in.name + "/" + std::to_string(w), [in, w](benchmark::State& s) {
        pool_wordcount(s, in, w);
      })->MinTime(min_time);
      reg("wordcount/threads/" + in.name + "/" + std::to_string(w), [in, w](benchmark::State& s) {
        baseline(s, in, [w](std::string_view t) { return bench::threads_private_tables(t, w); });
      })->MinTime(min_time);
      if (in.mib <= 16) {  // one lock per word: too slow for the large inputs
        reg("wordcount/locked_map/" + in.name + "/" + std::to_string(w), [in, w](benchmark::State& s) {
          baseline(s, in, [w](std::string_view t) { return bench::threads_locked_map(t, w); });
        })->MinTime(min_time);
      }
    }
    if (in.mib <= 256) {
      reg("wordcount/serial_unordered_map/" + in.name + "/1", [in](benchmark::State& s) {
        baseline(s, in, [](std::string_view t) { return bench::serial_unordered_map(t); });
      })->MinTime(min_time);
    }
    if (in.mib == 16) {
      for (unsigned w : workers) {
        reg("no_combiner/pool/" + in.name + "/" + std::to_string(w),
            [in, w](benchmark::State& s) { no_combiner(s, in, w); });
        reg("inverted_index/pool/" + in.name + "/" + std::to_string(w),
            [in, w](benchmark::State& s) { inverted_index(s, in, w); });
        reg("histogram/hashed/" + in.name + "/" + std::to_string(w),
            [in, w](benchmark::State& s) { histogram(s, in, w, false); });
        reg("histogram/dense/" + in.name + "/" + std::to_string(w),
            [in, w](benchmark::State& s) { histogram(s, in, w, true); });
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
