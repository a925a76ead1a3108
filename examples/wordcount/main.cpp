// wordcount: counts the words of files with a mapreduce::Pool and prints
// "word<TAB>count" lines, most frequent first.
#include <csignal>

#include "wordcount.hpp"

namespace wordcount {
namespace {

int run(const Options& options) {
  ProgressLine progress(options.progress);
  mapreduce::PoolOptions pool_options = options.pool;
  pool_options.progress = [&progress](const mapreduce::Progress& p) { progress(p); };
  mapreduce::Pool pool(pool_options);
  mapreduce::FileInput input{options.files.empty() ? default_input() : options.files};
  auto counts = pool.map_reduce<std::string, std::uint64_t>(input, count_words, std::plus<>{});
  progress.finish();  // erase it before the results go out
  write_counts(std::move(counts), options);
  if (options.stats) {
    const auto& s = pool.last_stats();
    fmt::print(stderr,
               "input {} bytes in {} tasks; {} words, {} distinct; shared memory {} bytes, spilled {} bytes; "
               "{} retries\n"
               "split {:.3f}s  map {:.3f}s ({} workers)  reduce {:.3f}s ({} workers)  gather {:.3f}s  total {:.3f}s\n",
               s.input_bytes, s.map_tasks, s.records, s.distinct_keys, s.shared_bytes, s.spilled_bytes, s.retries,
               s.split_seconds, s.map_seconds, s.map_workers, s.reduce_seconds, s.reduce_workers, s.gather_seconds,
               s.total_seconds);
  }
  return 0;
}

}  // namespace
}  // namespace wordcount

int main(int argc, char** argv) {
  return cli::run_main("wordcount", [&] {
    // First thing: from here on SIGINT and SIGTERM stop the job cleanly (workers reaped,
    // shared memory freed) and end the program with 130 or 143.
    mapreduce::InterruptGuard interrupts;
    return wordcount::run(wordcount::parse_args(argc, argv));
  });
}
