// WorkerHandoff (detail/phase.hpp): a job forks each worker once, and its map workers go on
// to reduce. The result stays exact when a worker dies in the reduce phase or while it waits
// for it, a job with fewer reduce tasks than workers ends the extra ones, and nothing is
// left behind.
#include <mapreduce/mapreduce.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

auto word_mapper = [](std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, 1); });
};

}  // namespace

TEST_CASE("a job forks each worker once: its map workers go on to reduce", "[handoff]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(21, 200000);
  const auto file = dir.write("in", text);
  const auto expected = test::reference_counts({text});
  for (unsigned workers : {1u, 2u, 3u}) {
    INFO("workers " << workers);
    mapreduce::Pool pool({.workers = workers, .partitions = 8, .chunk_bytes = 16384});
    CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, word_mapper,
                                                                   std::plus<>{})) == expected);
    const auto& s = pool.last_stats();
    CHECK(s.map_workers == workers);  // 13 tasks
    CHECK(s.reduce_workers == workers);
    CHECK(s.forked_workers == workers);
    CHECK(s.retries == 0);
  }
}

TEST_CASE("a reduce worker that dies is replaced by a fork, and the result is exact", "[handoff]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(22, 200000);
  const auto file = dir.write("in", text);
  const auto expected = test::reference_counts({text});
  mapreduce::PoolOptions o{.workers = 2, .partitions = 8, .chunk_bytes = 16384};
  o.before_task = [](const mapreduce::TaskContext& t) {
    if (std::string_view(t.phase) == "reduce" && t.task == 2 && t.attempt == 1) ::raise(SIGKILL);
  };
  mapreduce::Pool pool(o);
  CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, word_mapper,
                                                                 std::plus<>{})) == expected);
  const auto& s = pool.last_stats();
  CHECK(s.retries == 1);
  CHECK(s.map_workers == 2);
  // Its replacement, unless the other worker took the lost task before the death was seen.
  CHECK(s.forked_workers >= 2);
  CHECK(s.forked_workers <= 3);
  CHECK(s.reduce_workers == s.forked_workers);
}

TEST_CASE("a worker killed while it waits for the reduce phase costs no task", "[handoff]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(23, 200000);
  const auto file = dir.write("in", text);
  const auto expected = test::reference_counts({text});
  for (bool kill_all : {false, true}) {
    INFO("kill all " << kill_all);
    unsigned killed = 0;
    mapreduce::PoolOptions o{.workers = 2, .partitions = 8, .chunk_bytes = 16384};
    // The reduce phase's first report comes before it takes the map workers over: they are
    // waiting in the handoff then, and nothing else runs as this process's child.
    o.progress = [&killed, kill_all](const mapreduce::Progress& p) {
      if (std::string_view(p.phase) != "reduce" || killed != 0) return;
      for (const pid_t child : test::children_of(::getpid())) {
        ::kill(child, SIGKILL);
        // Until it is a zombie: dead before the phase takes it over, not while (that race
        // costs the task it was just given an attempt, as any death in a task does).
        while (test::alive(child)) ::usleep(1000);
        ++killed;
        if (!kill_all) break;
      }
    };
    mapreduce::Pool pool(o);
    CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, word_mapper,
                                                                   std::plus<>{})) == expected);
    CHECK(killed == (kill_all ? 2u : 1u));
    const auto& s = pool.last_stats();
    CHECK(s.retries == 0);  // it held nothing: no task ran again
    CHECK(s.forked_workers == 2 + killed);
  }
}

TEST_CASE("with fewer reduce tasks than workers, the extra workers end and none is left", "[handoff]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 3, .partitions = 8, .items_per_task = 1});
  const auto items = test::range(1, 31);
  // One key: one partition holds records, so one reduce task.
  const auto result = pool.map_reduce<int, int>(
      items, [](int x, auto& emit) { emit(7, x); }, std::plus<>{});
  CHECK(result == std::vector<std::pair<int, int>>{{7, 465}});
  const auto& s = pool.last_stats();
  CHECK(s.map_workers == 3);
  CHECK(s.reduce_workers == 1);
  CHECK(s.forked_workers == 3);
  CHECK(test::children_of(::getpid()).empty());
}

TEST_CASE("map workers recycled by max_tasks_per_worker exit instead of going on to reduce", "[handoff]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(24, 200000);
  const auto file = dir.write("in", text);
  const auto expected = test::reference_counts({text});
  mapreduce::PoolOptions o{.workers = 2, .partitions = 8, .chunk_bytes = 16384};
  o.max_tasks_per_worker = 1;
  mapreduce::Pool pool(o);
  CHECK(test::as_map(pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, word_mapper,
                                                                 std::plus<>{})) == expected);
  const auto& s = pool.last_stats();
  CHECK(s.map_workers == s.map_tasks);  // one task each
  // Every map worker was due for recycling: the reduce phase forked its own.
  CHECK(s.forked_workers == s.map_workers + s.reduce_workers);
  CHECK(s.reduce_workers >= 1);
  CHECK(test::children_of(::getpid()).empty());
}

TEST_CASE("a job with an empty reduce phase and part files still ends its workers", "[handoff]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  mapreduce::Pool pool({.workers = 2, .partitions = 4, .items_per_task = 1});
  // Items that emit nothing: no run set holds a record.
  auto empty = pool.map_reduce<int, int>(
      test::range(0, 10), [](int, auto&) {}, std::plus<>{});
  CHECK(empty.empty());
  CHECK(pool.last_stats().reduce_workers == 0);
  CHECK(pool.last_stats().forked_workers == 2);
  // Part files: every partition gets its file, empty ones too, from the map workers.
  const auto written = pool.map_reduce_to_files<int, int>(
      test::range(0, 10), [](int x, auto& emit) { emit(x % 3, 1); }, std::plus<>{},
      mapreduce::PartFiles{(dir.path() / "out").string()});
  CHECK(written.pairs == 3);
  CHECK(pool.last_stats().reduce_workers >= 1);  // one per partition that holds a key, at most 2
  CHECK(pool.last_stats().forked_workers == 2);
  for (int p = 0; p < 4; ++p) CHECK(std::filesystem::exists(dir.path() / "out" / fmt::format("part-{:05}", p)));
  // No pair at all: no reduce task, and every part file is still written, empty.
  const auto none = pool.map_reduce_to_files<int, int>(
      test::range(0, 10), [](int, auto&) {}, std::plus<>{}, mapreduce::PartFiles{(dir.path() / "empty").string()});
  CHECK(none.pairs == 0);
  CHECK(none.files.size() == 4);
  CHECK(pool.last_stats().reduce_workers == 0);
  CHECK(pool.last_stats().forked_workers == 2);
  for (const auto& f : none.files) CHECK(std::filesystem::file_size(f) == 0);
  CHECK(test::children_of(::getpid()).empty());
}
