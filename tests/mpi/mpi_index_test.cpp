// Run under mpirun: an MpiPool job with a per-key reducer (an inverted index over files)
// must give rank 0 exactly what a local Pool gives. Exits 0 when it does.
//   mpi_index_test [--per-rank] FILE...   (--per-rank: rank r passes only files r, r+K...)
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <mapreduce/mapreduce.hpp>
#include <mapreduce/mpi.hpp>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  {
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    const bool per_rank = argc > 1 && std::string(argv[1]) == "--per-rank";
    mapreduce::FileInput input, mine;
    for (int i = per_rank ? 2 : 1, n = 0; i < argc; ++i, ++n) {
      input.paths.emplace_back(argv[i]);
      if (n % ranks == rank) mine.paths.emplace_back(argv[i]);
    }
    // Every line's words, with the line's first word as a "document" id: values that
    // depend on which task emitted them, in an order the reducer keeps.
    auto mapper = [](std::string_view chunk, auto& emit) {
      mapreduce::for_each_record(chunk, [&](std::string_view line) {
        const auto h = static_cast<std::uint32_t>(mapreduce::hash_bytes(line.data(), line.size()) % 100000);
        mapreduce::for_each_word(line, [&](std::string_view w) { emit(w, h); });
      });
    };
    auto reducer = [](std::string_view, std::span<const std::uint32_t> docs) {
      return std::vector<std::uint32_t>(docs.begin(), docs.end());
    };
    mapreduce::MpiPool pool({.workers = 2, .partitions = 7, .chunk_bytes = 4096});
    auto distributed = per_rank ? pool.map_reduce<std::string, std::uint32_t>(mine, mapper, reducer,
                                                                              mapreduce::MpiInputs::per_rank)
                                : pool.map_reduce<std::string, std::uint32_t>(input, mapper, reducer);
    if (pool.rank() == 0) {
      // Open MPI runs threads of its own in this process; the workers never call MPI.
      mapreduce::Pool local({.workers = 2, .partitions = 7, .chunk_bytes = 4096, .host_threads_fork_safe = true});
      auto expected = local.map_reduce<std::string, std::uint32_t>(input, mapper, reducer);
      if (per_rank) {  // the files were mapped in another order: compare each key's values as sets
        for (auto* r : {&distributed, &expected}) {
          for (auto& [k, v] : *r) std::sort(v.begin(), v.end());
        }
      }
      if (distributed != expected || expected.empty()) {
        std::fprintf(stderr, "mpi_index_test: %zu pairs from %d ranks, %zu expected\n", distributed.size(),
                     pool.ranks(), expected.size());
        code = 1;
      }
    } else if (!distributed.empty()) {
      std::fprintf(stderr, "mpi_index_test: rank %d got a result\n", pool.rank());
      code = 1;
    }
  }
  MPI_Finalize();
  return code;
}
