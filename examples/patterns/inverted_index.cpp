// inverted_index: for each word, the files that contain it, as "word<TAB>file,file,..."
// lines sorted by word.
//
// The pattern: a map over the list of files rather than over FileInput, because a
// FileInput mapper sees only the bytes of its chunk, never which file they came from. Each
// item is a file number; the mapper reads that file and emits (word, file number) once per
// distinct word. A per-key reducer turns all the numbers emitted for a word into a sorted
// list without duplicates.
//
//   inverted_index [--workers N] FILE...
//   inverted_index --check [--workers N] [FILE...]
//     also builds the index in one loop and exits 1 on any difference; with no FILE, on
//     three small files written to a temporary directory, whose index is known exactly
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

namespace fs = std::filesystem;

constexpr const char* description = "Prints word<TAB>file,file,... for every word of the files, sorted by word.";

// Word -> the numbers of the files that contain it, ascending. Sorted by word.
using Index = std::vector<std::pair<std::string, std::vector<std::uint32_t>>>;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mapreduce::InputError(fmt::format("cannot open {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Index build_index(mapreduce::Pool& pool, const std::vector<fs::path>& paths) {
  // Over the files themselves, split into chunks like any FileInput (a large file is
  // indexed by several workers at once); the mapper's ChunkSource says which file.
  auto index = pool.named("index").map_reduce<std::string, std::uint32_t>(
      mapreduce::FileInput{paths},
      [](std::string_view chunk, const mapreduce::ChunkSource& from, auto& emit) {
        // Each word once per chunk: the shuffle then carries about one pair per (word,
        // file), not one per occurrence.
        // (Strings, not views: a lower-cased word is a view into a buffer that is reused.)
        std::unordered_set<std::string> seen;
        mapreduce::for_each_word(chunk, [&](std::string_view w) {
          if (seen.emplace(w).second) emit(w, from.file);
        });
      },
      [](std::string_view, std::span<const std::uint32_t> in) {
        // A file's chunks each send the word: sort and drop the repeats.
        std::vector<std::uint32_t> out(in.begin(), in.end());
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
      });
  mapreduce::sort_by_key(index);  // the result comes in hash order
  return index;
}

// The same index in one loop, the obvious way: what --check compares against.
Index serial_index(const std::vector<fs::path>& paths) {
  std::map<std::string, std::set<std::uint32_t>> index;
  for (std::uint32_t i = 0; i < paths.size(); ++i) {
    mapreduce::for_each_word(read_file(paths[i]), [&](std::string_view w) { index[std::string(w)].insert(i); });
  }
  Index out;
  for (auto& [word, files] : index) out.emplace_back(word, std::vector<std::uint32_t>(files.begin(), files.end()));
  return out;
}

std::string render(const Index& index, const std::vector<std::string>& names) {
  std::string out;
  for (const auto& [word, files] : index) {
    fmt::format_to(std::back_inserter(out), "{}\t", word);
    for (std::size_t i = 0; i < files.size(); ++i) out += (i == 0 ? "" : ",") + names[files[i]];
    out += '\n';
  }
  return out;
}

// Three files with a known index, in a temporary directory removed on return.
bool check_known_index(mapreduce::Pool& pool) {
  std::string tmpl = (fs::temp_directory_path() / "inverted_index-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw mapreduce::InputError("cannot make a temporary directory");
  const fs::path dir = tmpl;
  struct Remove {
    fs::path dir;
    ~Remove() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } remove{dir};
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a.txt", "The quick brown fox\n"}, {"b.txt", "the lazy dog. The end"}, {"c.txt", "Quick, quick! A dog?\n"}};
  std::vector<fs::path> paths;
  std::vector<std::string> names;
  for (const auto& [name, text] : files) {
    std::ofstream(dir / name, std::ios::binary) << text;
    paths.push_back(dir / name);
    names.push_back(name);
  }
  const std::string expected =
      "a\tc.txt\nbrown\ta.txt\ndog\tb.txt,c.txt\nend\tb.txt\nfox\ta.txt\nlazy\tb.txt\nquick\ta.txt,c.txt\n"
      "the\ta.txt,b.txt\n";
  const std::string got = render(build_index(pool, paths), names);
  if (got != expected) fmt::print(stderr, "inverted_index: the known index differs; got:\n{}", got);
  return got == expected;
}

int run(int argc, char** argv) {
  bool check = false;
  unsigned workers = 0;
  std::vector<std::string> names;
  cli::App app("inverted_index", description);
  app.add_workers(workers);
  app.add_flag("--check", check,
               "also build the index in one loop and exit 1 on any difference;\n"
               "with no FILE, check a small index known in advance");
  app.add_option("FILE", names, "the files to index")->type_name("");
  app.parse_command_line(argc, argv);
  if (names.empty() && !check) throw app.error("no FILE (see --help)");
  // Check the files here, where a failure is an input error (exit 2); in a worker it
  // would fail the job instead.
  std::vector<fs::path> paths(names.begin(), names.end());
  for (const auto& p : paths) {
    if (!fs::is_regular_file(p) || !std::ifstream(p)) {
      throw mapreduce::InputError(fmt::format("cannot read {}", p.string()));
    }
  }

  mapreduce::Pool pool({.workers = workers});
  if (paths.empty()) {  // --check alone
    if (!check_known_index(pool)) return 1;
    fmt::print("check: the known index of three files\n");
    return 0;
  }
  const Index index = build_index(pool, paths);
  fmt::print("{}", render(index, names));
  if (check) {
    if (index != serial_index(paths)) {
      fmt::print(stderr, "inverted_index: the index differs from one loop\n");
      return 1;
    }
    fmt::print("check: the same index as one loop ({} words)\n", index.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("inverted_index", [&] { return run(argc, argv); });
}
