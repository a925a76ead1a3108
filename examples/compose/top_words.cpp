// Word count, then the top 100 by count, as a chain of two jobs: the first job's counts
// stay in shared memory as a Dataset that the second job maps partition by partition.
// Prints what `wordcount --top 100` prints for the same files.
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

using Entry = std::pair<std::uint64_t, std::string>;  // (count, word)
constexpr std::size_t top = 100;

// Keeps the `top` entries with the largest counts, ties by word ascending: associative and
// commutative, so it is also the combiner of the second job.
std::vector<Entry> keep_top(std::vector<Entry> a, const std::vector<Entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  auto better = [](const Entry& x, const Entry& y) {
    return x.first != y.first ? x.first > y.first : x.second < y.second;
  };
  const auto n = std::min(a.size(), top);
  std::partial_sort(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), a.end(), better);
  a.resize(n);
  return a;
}

int run(int argc, char** argv) {
  unsigned workers = 0;
  mapreduce::FileInput input;
  cli::App app("top_words",
               "Prints the 100 most frequent words of FILEs, as wordcount --top 100 does, with a\n"
               "chain of two jobs.");
  app.add_workers(workers);
  app.add_option("FILE", input.paths, "the files to count")->type_name("");
  app.parse_command_line(argc, argv);
  mapreduce::Pool pool({.workers = workers});
  auto counts = pool.named("count words")
                    .map_reduce_dataset<std::string, std::uint64_t>(
                        input,
                        [](std::string_view chunk, auto& emit) {
                          mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
                        },
                        std::plus<>{});
  auto best = pool.named("top 100").map_reduce<int, std::vector<Entry>>(
      counts,
      [](std::string_view word, std::uint64_t n, auto& emit) {
        emit(0, std::vector<Entry>{{n, std::string(word)}});
      },
      [](const std::vector<Entry>& a, const std::vector<Entry>& b) { return keep_top(a, b); });
  if (!best.empty()) {
    for (const auto& [n, word] : best[0].second) fmt::print("{}\t{}\n", word, n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("top_words", [&] { return run(argc, argv); });
}
