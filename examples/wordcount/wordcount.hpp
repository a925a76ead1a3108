#pragma once
// What the two word-count programs share: options, the default input, the mapper and the
// output. wordcount runs on one machine; wordcount-mpi runs the same job under mpirun.
#include <algorithm>
#include <csignal>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"
#include "../common/output.hpp"

namespace wordcount {

using cli::ProgressLine;

constexpr const char* description =
    "Counts the words of FILEs (- is standard input) with a pool of worker processes and\n"
    "prints \"word<TAB>count\" lines, by count descending, then word ascending (bytewise).\n"
    "With no FILE it counts the project's own documentation and sources.\n"
    "\n"
    "A word is a maximal run of bytes that are ASCII letters, ASCII digits, or any byte of\n"
    "0x80 or above (so UTF-8 words stay whole); every other byte separates words. ASCII\n"
    "letters are lower-cased.";

constexpr const char* footer =
    "Exit status: 0 on success, 2 for a usage or input error, 130 or 143 when interrupted by\n"
    "SIGINT or SIGTERM, 1 for any other failure.";

struct Options {
  mapreduce::PoolOptions pool;
  std::size_t top = 0;  // 0: all
  bool stats = false;
  bool sort_by_key = false;
  programs::OutputFormat format = programs::OutputFormat::tsv;
  std::string output;  // empty: standard output
  using Progress = cli::ProgressMode;
  Progress progress = Progress::automatic;
  std::vector<std::filesystem::path> files;
};

// `name`: the program, wordcount or wordcount-mpi, for its usage and --version.
inline Options parse_args(int argc, char** argv, const std::string& name = "wordcount") {
  Options o;
  std::string sort = "count", format = "tsv";
  bool verbose = false;
  cli::App app(name, description, footer);
  app.add_workers(o.pool.workers);
  app.add_count("-p,--partitions", o.pool.partitions, 1, 65536, "reduce partitions (default: 4 per worker)")
      ->type_name("P");
  app.add_count("-n,--top", o.top, 1, UINT32_MAX, "print only the N most frequent words (default: all)");
  app.add_chunk_bytes(o.pool.chunk_bytes)->type_name("B");
  app.add_worker_memory(o.pool.worker_memory);
  app.add_choice("--sort", sort, {"count", "key"},
                 "order: by count descending (ties by word), or by word (default: count)");
  app.add_choice("--format", format, {"tsv", "csv", "json"},
                 "tsv (word<TAB>count, the default), csv (with a header) or json");
  CLI::Option* output =
      app.add_option("-o,--output", o.output, "write there instead of standard output")->type_name("FILE");
  app.add_flag("--stats", o.stats, "print what each phase did to standard error");
  app.add_flag("--verbose", verbose, "prefix what workers print with their phase, worker and task");
  app.add_progress(o.progress);
  app.add_option("FILE", o.files, "files to count (- is standard input)")->type_name("");
  app.parse_command_line(argc, argv);
  if (output->count() > 0 && o.output.empty()) throw app.error("--output needs a file name");
  o.sort_by_key = sort == "key";
  o.format = programs::parse_output_format(format);
  if (verbose) o.pool.worker_output = mapreduce::WorkerOutput::prefixed;
  return o;
}

// The project's own documentation and sources, so the demo runs with no arguments.
inline std::vector<std::filesystem::path> default_input() {
  namespace fs = std::filesystem;
  const fs::path root = MAPREDUCE_DEFAULT_INPUT_DIR;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const char* top : {"README.md", "docs", "include", "src", "examples", "tests"}) {
    const fs::path p = root / top;
    if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
        const auto ext = e.path().extension();
        if (e.is_regular_file(ec) && (ext == ".md" || ext == ".hpp" || ext == ".cpp")) files.push_back(e.path());
      }
    }
  }
  if (files.empty()) {
    throw mapreduce::InputError(fmt::format(
        "no FILE given, and the default input ({}) is not there; name a FILE or - for standard input", root.string()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The mapper: every word of the chunk, counted once.
inline void count_words(std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view word) { emit(word, 1); });
}

// Writes the counts as asked: the top N (or all), by count or by word, in the format asked,
// to the output file or standard output. Throws mapreduce::Error when it cannot write.
inline void write_counts(std::vector<std::pair<std::string, std::uint64_t>> counts, const Options& options) {
  if (options.top != 0) counts = mapreduce::top_n(std::move(counts), options.top);
  if (options.sort_by_key) {
    mapreduce::sort_by_key(counts);
  } else if (options.top == 0) {
    mapreduce::sort_by_value_desc(counts);
  }
  std::string out;
  programs::write_pairs(out, counts, options.format, "word", "count");
  std::FILE* f = options.output.empty() ? stdout : std::fopen(options.output.c_str(), "wb");
  if (f == nullptr)
    throw mapreduce::Error(fmt::format("{}: cannot open for writing: {}", options.output, std::strerror(errno)));
  const bool written = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  const bool closed = f == stdout ? std::fflush(f) == 0 : std::fclose(f) == 0;
  if (!written || !closed) {
    throw mapreduce::Error(
        fmt::format("{}: cannot write the output", options.output.empty() ? "standard output" : options.output));
  }
}

}  // namespace wordcount
