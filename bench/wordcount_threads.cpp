// wordcount_threads: the threaded baseline as a whole program, to time against wordcount
// process for process (hyperfine): threads with private tables, the same tokenizer and
// table as the Pool, the same output.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "../examples/common/cli.hpp"
#include "baselines.hpp"

int main(int argc, char** argv) {
  return cli::run_main("wordcount_threads", [&] {
    unsigned threads = 2;
    std::size_t top = 0;
    std::string path;
    cli::App app("wordcount_threads",
                 "Counts the words of FILE with threads and private tables (the benchmarks'\n"
                 "threaded baseline) and prints them as wordcount does.");
    app.add_count("--threads", threads, 1, 1024, "threads (default: 2)");
    app.add_count("-n,--top", top, 1, UINT32_MAX, "print only the N most frequent words (default: all)");
    app.add_option("FILE", path, "the file to count")->required()->type_name("");
    app.parse_command_line(argc, argv);
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
  });
}
