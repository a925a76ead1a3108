// wordcount_threads: the threaded baseline as a whole program, to time against wordcount
// process for process (hyperfine): threads with private tables, the same tokenizer and
// table as the Pool, the same output.
#include <cstdio>
#include <exception>
#include <string>

#include <fmt/format.h>

#include "baselines.hpp"

int main(int argc, char** argv) {
  try {
    unsigned threads = 2;
    std::size_t top = 0;
    std::string path;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--threads" && i + 1 < argc) {
        threads = static_cast<unsigned>(std::stoul(argv[++i]));
      } else if (a == "--top" && i + 1 < argc) {
        top = std::stoul(argv[++i]);
      } else {
        path = a;
      }
    }
    if (path.empty() || threads == 0) {
      std::fputs("usage: wordcount_threads [--threads N] [--top N] FILE\n", stderr);
      return 2;
    }
    bench::MappedFile file(path);
    auto counts = bench::threads_private_tables(file.text(), threads);
    if (top != 0) {
      counts = mapreduce::top_n(std::move(counts), top);
    } else {
      mapreduce::sort_by_value_desc(counts);
    }
    fmt::memory_buffer out;
    for (const auto& [w, n] : counts) fmt::format_to(std::back_inserter(out), "{}\t{}\n", w, n);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wordcount_threads: %s\n", e.what());
    return 1;
  }
}
