// Results written by the reducers to part files (Pool::map_reduce_to_files, part_files.hpp):
// the files against the gathered result, in both formats, the reader, and the guarantees of a
// failed job: no part files left behind, an earlier output left as it was.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/mapreduce.hpp>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> words(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(fmt::format("w{}", rng() % 3000));
  return out;
}

// Every entry of `dir` (names only), to see what a job left there.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

auto count_words = [](const std::string& w, auto& emit) { emit(w, 1); };

std::vector<std::pair<std::string, std::uint64_t>> read_counts(const fs::path& p) {
  return mapreduce::read_part_file<std::string, std::uint64_t>(p);
}

}  // namespace

TEST_CASE("part files: one per partition, in TSV or binary, together the gathered result") {
  test::TempDir tmp;
  const auto input = words(1, 20000);
  mapreduce::Pool pool({.workers = 2, .partitions = 7, .items_per_task = 1000});
  const auto gathered = pool.sorted().map_reduce<std::string, std::uint64_t>(input, count_words, std::plus<>{});

  SECTION("TSV, sorted: the files concatenated are the sorted result as lines") {
    const fs::path out = tmp.path() / "counts";
    const auto written = pool.sorted().map_reduce_to_files<std::string, std::uint64_t>(
        input, count_words, std::plus<>{}, {.directory = out});
    REQUIRE(written.files.size() == 7);
    CHECK(written.pairs == gathered.size());
    CHECK(pool.last_stats().distinct_keys == gathered.size());
    std::string want, got;
    for (const auto& [w, n] : gathered) want += fmt::format("{}\t{}\n", w, n);
    std::uint64_t bytes = 0;
    for (std::uint32_t p = 0; p < 7; ++p) {
      CHECK(written.files[p] == out / fmt::format("part-{:05}", p));
      got += read_all(written.files[p]);
      bytes += fs::file_size(written.files[p]);
    }
    CHECK(got == want);
    CHECK(written.bytes == bytes);
    CHECK(listing(out).size() == 7);
    CHECK(listing(tmp.path()) == std::vector<std::string>{"counts"});  // no temporary left beside it
  }

  SECTION("binary, per-key reducer, hash order: read back, the files hold the gathered pairs") {
    const fs::path out = tmp.path() / "bin";
    auto lengths = mapreduce::per_key(
        [](std::string_view w, std::span<const std::uint64_t> ones) { return std::string(ones.size(), w[0]); });
    const auto written = pool.map_reduce_to_files<std::string, std::uint64_t>(
        input, count_words, lengths, {.directory = out, .format = mapreduce::PartFormat::binary});
    const auto want = pool.map_reduce<std::string, std::uint64_t>(input, count_words, lengths);
    std::vector<std::pair<std::string, std::string>> got;
    for (const auto& f : written.files) {
      auto part = mapreduce::read_part_file<std::string, std::string>(f);
      got.insert(got.end(), part.begin(), part.end());
    }
    CHECK(got == want);
  }
}

TEST_CASE("part files: a reducer killed once is retried, and its partition's file is whole") {
  test::TempDir tmp;
  const auto input = words(3, 10000);
  const fs::path marker = tmp.path() / "killed-once";
  // The first reducer to reach "w7" dies by SIGKILL; its partition runs again in a new worker.
  auto count = mapreduce::per_key([marker](std::string_view w, std::span<const std::uint64_t> ones) {
    if (w == "w7" && !fs::exists(marker)) {
      std::ofstream(marker) << "x";
      ::raise(SIGKILL);
    }
    return static_cast<std::uint64_t>(ones.size());
  });
  mapreduce::Pool pool({.workers = 2, .partitions = 5, .items_per_task = 1000});
  const auto written = pool.sorted().map_reduce_to_files<std::string, std::uint64_t>(
      input, count_words, count, {.directory = tmp.path() / "out", .format = mapreduce::PartFormat::binary});
  CHECK(pool.last_stats().retries == 1);
  std::vector<std::pair<std::string, std::uint64_t>> got;
  std::map<std::string, std::uint64_t> distinct;
  for (const auto& w : input) ++distinct[w];
  CHECK(written.pairs == distinct.size());  // the partition run twice is counted once
  for (const auto& f : written.files) {
    const auto part = read_counts(f);
    got.insert(got.end(), part.begin(), part.end());
  }
  std::map<std::string, std::uint64_t> reference;
  for (const auto& w : input) ++reference[w];
  CHECK(got == std::vector<std::pair<std::string, std::uint64_t>>(reference.begin(), reference.end()));
}

TEST_CASE("part files: an empty input still writes every part, empty") {
  test::TempDir tmp;
  const std::vector<std::string> none;
  mapreduce::Pool pool({.workers = 2, .partitions = 3});
  for (const auto format : {mapreduce::PartFormat::tsv, mapreduce::PartFormat::binary}) {
    const fs::path out = tmp.path() / (format == mapreduce::PartFormat::tsv ? "t" : "b");
    const auto written = pool.map_reduce_to_files<std::string, std::uint64_t>(none, count_words, std::plus<>{},
                                                                              {.directory = out, .format = format});
    CHECK(written.pairs == 0);
    REQUIRE(listing(out) == std::vector<std::string>{"part-00000", "part-00001", "part-00002"});
    for (const auto& f : written.files) {
      if (format == mapreduce::PartFormat::tsv) {
        CHECK(fs::file_size(f) == 0);
      } else {
        CHECK(mapreduce::read_part_file<std::string, std::uint64_t>(f).empty());
      }
    }
  }
}

TEST_CASE("part files: a failed job leaves no part files and keeps the earlier output") {
  test::TempDir tmp;
  const fs::path out = tmp.path() / "out";
  const auto input = words(2, 5000);
  mapreduce::Pool pool({.workers = 2, .partitions = 4, .items_per_task = 500});
  pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{}, {.directory = out});
  std::map<std::string, std::string> before;
  for (const auto& name : listing(out)) before[name] = read_all(out / name);

  SECTION("a reducer that throws") {
    auto failing = mapreduce::per_key([](std::string_view w, std::span<const std::uint64_t>) -> std::uint64_t {
      if (w == "w7") throw std::runtime_error("no w7 here");
      return 1;
    });
    CHECK_THROWS_AS(
        (pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, failing, {.directory = out})),
        mapreduce::JobError);
  }
  SECTION("a mapper that throws, in a sorted job") {
    CHECK_THROWS_AS((pool.sorted().map_reduce_to_files<std::string, std::uint64_t>(
                        input, [](const std::string&, auto&) { throw std::runtime_error("bad item"); }, std::plus<>{},
                        {.directory = out})),
                    mapreduce::JobError);
  }
  std::map<std::string, std::string> after;
  for (const auto& name : listing(out)) after[name] = read_all(out / name);
  CHECK(after == before);
  CHECK(listing(tmp.path()) == std::vector<std::string>{"out"});

  SECTION("a new output with fewer partitions replaces the old one whole") {
    mapreduce::Pool two({.workers = 2, .partitions = 2});
    two.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{}, {.directory = out});
    CHECK(listing(out) == std::vector<std::string>{"part-00000", "part-00001"});
    CHECK(listing(tmp.path()) == std::vector<std::string>{"out"});
  }
}

TEST_CASE("part files: a directory that holds other files is refused before the job, and named") {
  test::TempDir tmp;
  const fs::path out = tmp.path() / "mine";
  fs::create_directory(out);
  tmp.write("mine/notes.txt", "keep me");
  mapreduce::Pool pool({.workers = 1});
  const std::vector<std::string> input{"a", "b"};
  CHECK_THROWS_WITH(
      (pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{}, {.directory = out})),
      Catch::Contains(out.string()) && Catch::Contains("notes.txt"));
  CHECK(read_all(out / "notes.txt") == "keep me");
  CHECK(listing(tmp.path()) == std::vector<std::string>{"mine"});
  tmp.write("file", "x");
  CHECK_THROWS_AS((pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{},
                                                                        {.directory = tmp.path() / "file"})),
                  mapreduce::InputError);
}

TEST_CASE("part files: a directory given with a trailing slash, and a directory inside the output") {
  test::TempDir tmp;
  const auto input = words(4, 2000);
  mapreduce::Pool pool({.workers = 2, .partitions = 2});
  for (int round = 0; round < 2; ++round) {  // made, then replaced
    const auto written = pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{},
                                                                              {.directory = tmp.path() / "out/"});
    CHECK(written.files.front() == tmp.path() / "out" / "part-00000");
    CHECK(listing(tmp.path()) == std::vector<std::string>{"out"});
    CHECK(listing(tmp.path() / "out") == std::vector<std::string>{"part-00000", "part-00001"});
  }
  // A directory named like a part file is not an earlier output: refused, and kept.
  fs::create_directory(tmp.path() / "other");
  fs::create_directory(tmp.path() / "other" / "part-00000");
  tmp.write("other/part-00000/keep", "x");
  CHECK_THROWS_AS((pool.map_reduce_to_files<std::string, std::uint64_t>(input, count_words, std::plus<>{},
                                                                        {.directory = tmp.path() / "other"})),
                  mapreduce::InputError);
  CHECK(read_all(tmp.path() / "other" / "part-00000" / "keep") == "x");
}

TEST_CASE("part files: named() and sorted() end with the call, even one refused before its job") {
  test::TempDir tmp;
  fs::create_directory(tmp.path() / "taken");
  tmp.write("taken/notes", "x");
  const auto input = words(5, 3000);
  mapreduce::Pool pool({.workers = 2, .partitions = 4, .items_per_task = 500});
  CHECK_THROWS_AS((pool.sorted().named("refused").map_reduce_to_files<std::string, std::uint64_t>(
                      input, count_words, std::plus<>{}, {.directory = tmp.path() / "taken"})),
                  mapreduce::InputError);
  // The next job is neither sorted nor named: no sample, and its errors carry no name.
  pool.map_reduce<std::string, std::uint64_t>(input, count_words, std::plus<>{});
  CHECK(pool.last_stats().sample_seconds == 0);
  const std::string error = test::job_error([&] {
    pool.map_reduce<std::string, std::uint64_t>(
        input, [](const std::string&, auto&) { throw std::runtime_error("boom"); }, std::plus<>{});
  });
  CHECK_THAT(error, !Catch::Contains("refused"));
}

TEST_CASE("read_part_file names the file it cannot read") {
  test::TempDir tmp;
  const auto text = tmp.write("plain.txt", "not a part file at all");
  CHECK_THROWS_WITH(read_counts(text), Catch::Contains("plain.txt") && Catch::Contains("not a binary part file"));
  CHECK_THROWS_AS(read_counts(tmp.path() / "missing"), mapreduce::InputError);
  // A header, then a count the bytes cannot hold.
  std::string bad("MRPART1\n");
  const std::uint64_t count = 1000;
  bad.append(reinterpret_cast<const char*>(&count), sizeof(count));
  bad += "xy";
  const auto corrupt = tmp.write("corrupt", bad);
  CHECK_THROWS_WITH(read_counts(corrupt), Catch::Contains("corrupt"));
  CHECK_THROWS_AS(read_counts(corrupt), mapreduce::InputError);
}
