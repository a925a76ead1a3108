// FileInput: chunks cut at record boundaries, whatever the chunk size and file layout.
#include <mapreduce/mapreduce.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

std::map<std::string, std::uint64_t> count_words(const std::vector<std::filesystem::path>& files,
                                                 mapreduce::PoolOptions options) {
  mapreduce::Pool pool(options);
  return test::as_map(pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{files},
      [](std::string_view chunk, auto& emit) {
        mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
      },
      std::plus<>{}));
}

// Every record the mapper saw, as whole lines: each must arrive exactly once and uncut.
std::multiset<std::string> records_seen(const std::vector<std::filesystem::path>& files, mapreduce::PoolOptions options,
                                        char delimiter = '\n') {
  mapreduce::Pool pool(options);
  const auto result = pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{files, delimiter},
      [delimiter](std::string_view chunk, auto& emit) {
        mapreduce::for_each_record(
            chunk, [&](std::string_view r) { emit(r, 1); }, delimiter);
      },
      std::plus<>{});
  std::multiset<std::string> out;
  for (const auto& [r, n] : result) {
    for (std::uint64_t i = 0; i < n; ++i) out.insert(r);
  }
  return out;
}

}  // namespace

TEST_CASE("for_each_record splits on the delimiter and keeps a last record without one", "[input]") {
  std::vector<std::string> got;
  mapreduce::for_each_record("a\nbb\n\nccc", [&](std::string_view r) { got.emplace_back(r); });
  CHECK(got == std::vector<std::string>{"a", "bb", "", "ccc"});
  got.clear();
  mapreduce::for_each_record(
      "x;y;", [&](std::string_view r) { got.emplace_back(r); }, ';');
  CHECK(got == std::vector<std::string>{"x", "y"});
}

TEST_CASE("words that straddle chunk boundaries are counted whole, at any chunk size", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(7, 20000);
  const auto file = dir.write("text.txt", text);
  const auto expected = test::reference_counts({text});
  for (std::size_t chunk : {1, 2, 7, 64, 1000, 4096, 1 << 20}) {
    INFO("chunk_bytes " << chunk);
    CHECK(count_words({file}, {.workers = 2, .chunk_bytes = chunk}) == expected);
  }
}

TEST_CASE("every line reaches the mapper once and whole", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::string text;
  std::multiset<std::string> lines;
  for (int i = 0; i < 500; ++i) {
    std::string line = "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 37), 'x');
    lines.insert(line);
    text += line + "\n";
  }
  const auto file = dir.write("lines.txt", text);
  for (std::size_t chunk : {1, 5, 100, 3000}) {
    INFO("chunk_bytes " << chunk);
    CHECK(records_seen({file}, {.workers = 3, .chunk_bytes = chunk}) == lines);
  }
}

TEST_CASE("a custom delimiter cuts records", "[input]") {
  test::TempDir dir;
  const auto file = dir.write("nul.bin", std::string("alpha\0beta\0gamma", 16));
  CHECK(records_seen({file}, {.workers = 2, .chunk_bytes = 3}, '\0') ==
        std::multiset<std::string>{"alpha", "beta", "gamma"});
}

TEST_CASE("empty files, a missing final newline, and a line far longer than a chunk", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const auto empty1 = dir.write("empty1", "");
  const auto no_newline = dir.write("no_newline", "last Line WITHOUT newline");
  const std::string long_line = test::random_text(3, 100000);
  std::string one_line = long_line;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  const auto huge = dir.write("huge_line", one_line + "\nafter");
  const auto empty2 = dir.write("empty2", "");
  const auto expected = test::reference_counts({"", "last Line WITHOUT newline", one_line + "\nafter", ""});
  CHECK(count_words({empty1, no_newline, huge, empty2}, {.workers = 3, .chunk_bytes = 4096}) == expected);
  CHECK(count_words({empty1}, {.workers = 2}).empty());
  CHECK(count_words({}, {.workers = 2}).empty());
}

TEST_CASE("many small files share tasks; more workers than chunks", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::vector<std::filesystem::path> files;
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    texts.push_back(test::random_text(static_cast<std::uint64_t>(100 + i), static_cast<std::size_t>(i % 50)));
    files.push_back(dir.write("f" + std::to_string(i), texts.back()));
  }
  const auto expected = test::reference_counts(texts);
  CHECK(count_words(files, {.workers = 2, .chunk_bytes = 1000}) == expected);
  CHECK(count_words(files, {.workers = 8, .chunk_bytes = 1 << 20}) == expected);  // one chunk, 8 workers

  mapreduce::Pool pool({.workers = 8});
  const auto tiny = dir.write("tiny", "one two two");
  auto r = pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{{tiny}},
      [](std::string_view c, auto& emit) { mapreduce::for_each_word(c, [&](std::string_view w) { emit(w, 1); }); },
      std::plus<>{});
  CHECK(test::as_map(r) == std::map<std::string, std::uint64_t>{{"one", 1}, {"two", 2}});
  CHECK(pool.last_stats().map_workers == 1);  // never more workers than tasks
}

TEST_CASE("a bad path fails before any work, with one line naming the file and the problem", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const auto good = dir.write("good", "words here");
  auto run = [&](const std::filesystem::path& bad) -> std::string {
    try {
      count_words({good, bad}, {.workers = 2});
    } catch (const mapreduce::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto missing = dir.path() / "no such file";
  CHECK(run(missing) == missing.string() + ": cannot open: No such file or directory");
  CHECK(run(dir.path()) == dir.path().string() + ": is a directory");
  CHECK(run("/dev/zero") == "/dev/zero: not a regular file or a pipe");
}

TEST_CASE("a mapper that takes a ChunkSource learns each chunk's file and offset", "[input]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  // Three files, one empty, and one of many small lines, in chunks far smaller than a file.
  const std::vector<std::string> texts{test::random_text(3, 50000), "", test::random_text(4, 30000)};
  std::vector<std::filesystem::path> paths;
  for (std::size_t i = 0; i < texts.size(); ++i) paths.push_back(dir.write("f" + std::to_string(i) + ".txt", texts[i]));
  for (unsigned workers : {1u, 3u}) {
    mapreduce::Pool pool({.workers = workers, .chunk_bytes = 4096});
    // Key: "file:offset"; value: the chunk itself, to compare with the file's bytes there.
    auto chunks = pool.map_reduce<std::string, std::string>(
        mapreduce::FileInput{paths},
        [](std::string_view chunk, const mapreduce::ChunkSource& from, auto& emit) {
          emit(fmt::format("{}:{}:{}", from.file, from.offset, from.path), std::string(chunk));
        },
        [](std::string_view, std::span<const std::string> values) { return values.front(); });
    std::vector<std::uint64_t> covered(texts.size(), 0);
    for (const auto& [key, chunk] : chunks) {
      std::uint32_t file = 0;
      std::uint64_t offset = 0;
      char path[4096] = {};
      REQUIRE(std::sscanf(key.c_str(), "%u:%lu:%4095s", &file, &offset, path) == 3);
      REQUIRE(file < texts.size());
      CHECK(std::string(path) == paths[file].string());
      CHECK(texts[file].substr(offset, chunk.size()) == chunk);  // the bytes at that offset
      CHECK((offset == 0 || texts[file][offset - 1] == '\n'));   // it starts a record
      covered[file] += chunk.size();
    }
    // The chunks of a file cover it exactly once.
    for (std::size_t i = 0; i < texts.size(); ++i) CHECK(covered[i] == texts[i].size());
  }
}
