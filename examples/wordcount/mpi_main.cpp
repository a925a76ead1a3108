// wordcount-mpi: the word count of wordcount, run across the ranks of an MPI job.
//
//   mpirun -np 4 wordcount-mpi [wordcount options] FILE...
//
// Every rank maps its share of the input (paths on a shared file system), partitions go
// to their owner ranks, and rank 0 prints exactly what wordcount prints for the same input.
#include <mpi.h>

#include <mapreduce/mpi.hpp>

#include "wordcount.hpp"

namespace {

int run(const wordcount::Options& options) {
  mapreduce::MpiPool pool(options.pool);
  mapreduce::FileInput input{options.files.empty() ? wordcount::default_input() : options.files};
  auto counts = pool.map_reduce<std::string, std::uint64_t>(input, wordcount::count_words, std::plus<>{});
  if (options.stats) {
    const auto& s = pool.last_stats();
    fmt::print(
        stderr,
        "rank {}: {} map tasks, {} words, {} bytes of runs sent; map {:.3f}s, shuffle+reduce {:.3f}s, total {:.3f}s\n",
        pool.rank(), s.map_tasks, s.records, s.sent_bytes, s.map_seconds, s.reduce_seconds, s.total_seconds);
  }
  if (pool.rank() != 0) return 0;
  wordcount::write_counts(std::move(counts), options);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // Only rank 0 speaks: the failure is the same on every rank (MpiPool agrees on it).
  const int code = cli::run_main(
      "wordcount-mpi", [&] { return run(wordcount::parse_args(argc, argv, "wordcount-mpi")); }, rank == 0);
  MPI_Finalize();
  return code;
}
