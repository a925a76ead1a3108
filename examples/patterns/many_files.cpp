// many_files: lines, words, bytes and the longest line of each of many files, and their
// total. Two patterns:
//
//   many files -> one result each: pool.map(f, files) runs f on every file in the worker
//     processes and returns the results in the order of the files, as Python's
//     multiprocessing.Pool.map does. The results are small, so the parent adds them up.
//   many small results -> one total: map_reduce with a single key and a combine operation.
//     Each mapper folds the stats of its files into one partial total as it goes (the
//     combiner), so the parent receives one value rather than one per file: the shape to
//     use when only the total is wanted (--total).
//
//   many_files [--workers N] [--total] [--check] FILE...
//     --check: also computes both in one loop and exits 1 on any difference; with no FILE,
//     on 200 files written to a temporary directory
//   many_files --generate N DIR: writes N small text files to DIR, the same every time
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

namespace fs = std::filesystem;

constexpr const char* description =
    "Prints path<TAB>lines<TAB>words<TAB>bytes<TAB>longest line for each file, sorted by path,\n"
    "and their total. many_files --generate N DIR writes files to try it on instead.";

// The stats of one file, or of several added up. Trivially copyable: no Codec needed.
struct FileStats {
  std::uint64_t files = 0, lines = 0, words = 0, bytes = 0, longest = 0;
  bool operator==(const FileStats&) const = default;
};

FileStats add(const FileStats& a, const FileStats& b) {
  return {a.files + b.files, a.lines + b.lines, a.words + b.words, a.bytes + b.bytes, std::max(a.longest, b.longest)};
}

FileStats stats_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mapreduce::InputError(fmt::format("cannot open {}", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  FileStats s{1, 0, 0, text.size(), 0};
  mapreduce::for_each_record(text, [&](std::string_view line) {
    ++s.lines;  // a last line without '\n' counts too
    s.longest = std::max<std::uint64_t>(s.longest, line.size());
  });
  mapreduce::for_each_word(text, [&](std::string_view) { ++s.words; });
  return s;
}

// Pattern 1: one result per file, in the order of `paths`.
std::vector<FileStats> per_file(mapreduce::Pool& pool, const std::vector<std::string>& paths) {
  return pool.named("per file").map(stats_of, paths);
}

// Pattern 2: one total, folded in the workers. Every file emits under the same key 0.
FileStats total(mapreduce::Pool& pool, const std::vector<std::string>& paths) {
  auto result = pool.named("total").map_reduce<int, FileStats>(
      paths, [](const std::string& path, auto& emit) { emit(0, stats_of(path)); }, add);
  return result.empty() ? FileStats{} : result.front().second;  // no files: no key
}

void print_row(std::string_view name, const FileStats& s) {
  fmt::print("{}\t{}\t{}\t{}\t{}\n", name, s.lines, s.words, s.bytes, s.longest);
}

void generate(std::uint64_t n, const fs::path& dir) {
  fs::create_directories(dir);
  // Raw draws (rng() % n), one per statement: the same files with any compiler.
  std::mt19937_64 rng(200);
  const char* words[] = {"map",   "reduce",  "shuffle", "worker", "Partition", "chunk", "key",
                         "value", "combine", "fork",    "shared", "memory",    "42",    "ünïcode"};
  for (std::uint64_t i = 0; i < n; ++i) {
    const fs::path path = dir / fmt::format("file-{:04}.txt", i);
    std::ofstream out(path, std::ios::binary);
    if (!out) throw mapreduce::InputError(fmt::format("cannot write {}", path.string()));
    const std::uint64_t lines = rng() % 40;  // some files are empty
    for (std::uint64_t l = 0; l < lines; ++l) {
      const std::uint64_t count = rng() % 12;  // some lines are blank
      for (std::uint64_t w = 0; w < count; ++w) out << (w == 0 ? "" : w % 5 == 0 ? ", " : " ") << words[rng() % 14];
      if (l + 1 < lines || i % 7 != 0) out << '\n';  // every 7th file ends without a newline
    }
  }
}

int run(int argc, char** argv) {
  bool check = false, total_only = false;
  unsigned workers = 0;
  std::vector<std::string> paths;
  std::uint64_t generate_files = 0;
  cli::App app("many_files", description);
  app.add_workers(workers);
  app.add_flag("--total", total_only, "only the total, added up in the workers");
  app.add_flag("--check", check,
               "also compute them in one loop and exit 1 on any difference;\n"
               "with no FILE, on 200 generated files");
  CLI::Option* generating = app.add_count("--generate", generate_files, 0, 1000000,
                                          "write N small text files (the same every time) to DIR, the one FILE");
  app.add_option("FILE", paths, "the files to read")->type_name("");
  app.parse_command_line(argc, argv);
  if (generating->count() > 0) {
    if (paths.size() != 1) throw app.error("--generate N DIR: one DIR");
    generate(generate_files, paths.front());
    return 0;
  }
  if (paths.empty() && !check) throw app.error("no FILE (see --help)");

  // --check alone: 200 generated files in a temporary directory, removed on the way out.
  struct Remove {
    fs::path dir;
    ~Remove() {
      std::error_code ignored;
      if (!dir.empty()) fs::remove_all(dir, ignored);
    }
  } remove;
  if (paths.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "many_files-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw mapreduce::InputError("cannot make a temporary directory");
    remove.dir = tmpl;
    generate(200, remove.dir);
    for (const auto& entry : fs::directory_iterator(remove.dir)) paths.push_back(entry.path().string());
  }
  // Check the files here, where a failure is an input error (exit 2); in a worker it
  // would fail the job instead.
  for (const auto& p : paths) {
    if (!fs::is_regular_file(p) || !std::ifstream(p)) throw mapreduce::InputError(fmt::format("cannot read {}", p));
  }
  std::sort(paths.begin(), paths.end());  // the report's order, whatever the order of the arguments

  mapreduce::Pool pool({.workers = workers});
  std::vector<FileStats> stats;  // pattern 1: one per file
  FileStats sum;
  if (total_only) {
    sum = total(pool, paths);  // pattern 2
  } else {
    stats = per_file(pool, paths);
    fmt::print("path\tlines\twords\tbytes\tlongest\n");
    for (std::size_t i = 0; i < paths.size(); ++i) {
      print_row(paths[i], stats[i]);
      sum = add(sum, stats[i]);  // the fan-in: a loop in the parent over small results
    }
  }
  print_row(fmt::format("total ({} files)", sum.files), sum);

  if (check) {
    // Both patterns, whichever of them printed, against one loop.
    if (total_only) stats = per_file(pool, paths);
    const FileStats folded = total_only ? sum : total(pool, paths);
    FileStats serial;
    bool same = stats.size() == paths.size();
    for (std::size_t i = 0; same && i < paths.size(); ++i) {
      const FileStats s = stats_of(paths[i]);
      serial = {serial.files + 1, serial.lines + s.lines, serial.words + s.words, serial.bytes + s.bytes,
                std::max(serial.longest, s.longest)};  // not add(): it is under test too
      same = stats[i] == s;
    }
    if (!same || sum != serial || folded != serial) {
      fmt::print(stderr, "many_files: the stats differ from one loop\n");
      return 1;
    }
    fmt::print("check: both patterns give the stats of one loop over {} files\n", paths.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("many_files", [&] { return run(argc, argv); });
}
