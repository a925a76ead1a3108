// Composing jobs: chains through Datasets, cartesian maps, fan-in reducers, named jobs.
#include <mapreduce/mapreduce.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {
auto words = [](std::string_view chunk, auto& emit) {
  mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, std::uint64_t(1)); });
};
}  // namespace

TEST_CASE("a Dataset holds a job's result in shared memory until the next job maps it", "[dataset]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(61, 200000);
  const auto file = dir.write("in.txt", text);
  const auto expected = test::reference_counts({text});
  for (unsigned workers : {1u, 3u}) {
    mapreduce::Pool pool({.workers = workers, .partitions = 5, .chunk_bytes = 20000});
    auto counts = pool.map_reduce_dataset<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words,
                                                                      std::plus<>{});
    CHECK(counts.size() == expected.size());
    CHECK(counts.partitions() == 5);
    CHECK(counts.bytes() > 0);
    // collect() gives what map_reduce gives, order included.
    CHECK(counts.collect() ==
          pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words, std::plus<>{}));

    // Step two maps the first job's pairs in place: total count per word length.
    std::map<std::uint32_t, std::uint64_t> by_length;
    for (const auto& [w, n] : expected) by_length[static_cast<std::uint32_t>(w.size())] += n;
    auto lengths = pool.map_reduce<std::uint32_t, std::uint64_t>(
        counts, [](std::string_view w, std::uint64_t n, auto& emit) { emit(static_cast<std::uint32_t>(w.size()), n); },
        std::plus<>{});
    CHECK(std::map<std::uint32_t, std::uint64_t>(lengths.begin(), lengths.end()) == by_length);

    // A three-step chain, the middle step a Dataset again, its mapper taking pairs.
    auto frequent = pool.map_reduce_dataset<std::string, std::uint64_t>(
        counts,
        [](const std::pair<std::string_view, std::uint64_t>& kv, auto& emit) {
          if (kv.second >= 10) emit(kv.first, kv.second);
        },
        std::plus<>{});
    std::size_t expected_frequent = 0;
    for (const auto& [w, n] : expected) expected_frequent += n >= 10 ? 1 : 0;
    CHECK(frequent.size() == expected_frequent);
  }
}

TEST_CASE("consume() reads every pair in partition order and frees each partition as it goes", "[dataset]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(67, 200000);
  const auto file = dir.write("in.txt", text);
  mapreduce::Pool pool({.workers = 2, .partitions = 6, .chunk_bytes = 20000});
  const auto expected = pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words, std::plus<>{});
  auto counts = pool.map_reduce_dataset<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words, std::plus<>{});
  const std::size_t fds = test::open_fds(), held = counts.partitions();
  REQUIRE(held > 1);
  std::vector<std::pair<std::string, std::uint64_t>> got;
  std::size_t open_while_reading_last = 0;
  counts.consume([&](std::string_view w, std::uint64_t n) {
    got.emplace_back(w, n);
    open_while_reading_last = test::open_fds();
  });
  CHECK(got == expected);
  CHECK(open_while_reading_last == fds - (held - 1));  // every partition before the last is closed
  std::vector<int> registered;                         // and none is left for a later job's workers to keep open
  mapreduce::detail::SharedDescriptors::all(registered);
  CHECK(registered.empty());
  CHECK(counts.partitions() == 0);
  CHECK(counts.collect().empty());
  CHECK(test::open_fds() == fds - held);

  // A throwing callback leaves the Dataset empty too, its memory freed.
  auto again = pool.map_reduce_dataset<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words, std::plus<>{});
  CHECK_THROWS_AS(again.consume([](std::string_view, std::uint64_t) { throw std::runtime_error("stop"); }),
                  std::runtime_error);
  CHECK(again.partitions() == 0);
  CHECK(test::open_fds() == fds - held);
}

TEST_CASE("workers of a later job read whole partitions of a Dataset in place", "[dataset]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  const std::string text = test::random_text(7, 100000);
  const auto file = dir.write("in.txt", text);
  mapreduce::Pool pool({.workers = 3, .partitions = 7, .chunk_bytes = 10000});
  auto counts = pool.map_reduce_dataset<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, words, std::plus<>{});
  // One task per partition, in the workers: each returns its partition's pairs, as text.
  std::vector<std::size_t> parts;
  for (std::size_t i = 0; i < counts.partitions(); ++i) parts.push_back(i);
  const auto per_partition = pool.map(
      [&](std::size_t i) {
        std::vector<std::pair<std::string, std::uint64_t>> pairs;
        counts.for_each_in_partition(i, [&](std::string_view w, std::uint64_t n) { pairs.emplace_back(w, n); });
        return pairs;
      },
      parts);
  std::vector<std::pair<std::string, std::uint64_t>> all;
  for (const auto& p : per_partition) all.insert(all.end(), p.begin(), p.end());
  CHECK(all == counts.collect());  // partition order, as collect() gives them
  CHECK(test::as_map(all) == test::reference_counts({text}));
  for (std::size_t i = 1; i < counts.partitions(); ++i) CHECK(counts.partition_id(i - 1) < counts.partition_id(i));
  CHECK(counts.partition_id(counts.partitions() - 1) < 7);
  CHECK_THROWS_AS(counts.partition_id(counts.partitions()), std::out_of_range);
}

TEST_CASE("a failing step of a chain names the job, the phase and the task", "[dataset][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .partitions = 3});
  auto ds = pool.named("count").map_reduce_dataset<int, int>(
      std::vector<int>{1, 2, 3, 4, 5, 6}, [](int i, auto& emit) { emit(i, i); }, std::plus<>{});
  const std::string msg = test::job_error([&] {
    (void)pool.named("square").map_reduce<int, int>(
        ds,
        [](int k, int v, auto& emit) {
          if (k == 4) throw std::domain_error("no squares of 4");
          emit(k, v * v);
        },
        std::plus<>{});
  });
  CHECK_THAT(msg, Catch::Matches("square: map task dataset partition [0-2]: std::domain_error: no squares of 4"));
  // The name was for that job only.
  const std::string next = test::job_error([&] {
    (void)pool.map_reduce<int, int>(
        std::vector<int>{1}, [](int, auto&) { throw std::logic_error("x"); }, std::plus<>{});
  });
  CHECK(next == "map task item 0: std::logic_error: x");
  // ...also when it failed before running: a missing input.
  auto load_missing = [&] {
    (void)pool.named("load").map_reduce<int, int>(
        mapreduce::FileInput{{"/no/such/file"}}, [](std::string_view, auto&) {}, std::plus<>{});
  };
  CHECK_THROWS_AS(load_missing(), mapreduce::InputError);
  CHECK(test::job_error([&] {
          (void)pool.map_reduce<int, int>(
              std::vector<int>{1}, [](int, auto&) { throw std::logic_error("y"); }, std::plus<>{});
        }) == "map task item 0: std::logic_error: y");
}

TEST_CASE("map_product maps every pair as one job, addressable by the pair", "[dataset]") {
  test::LeakCheck leaks;
  const std::vector<std::string> cohorts{"a", "bb", "ccc", "dddd", "e", "ff", "g"};
  const std::vector<int> products{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377};
  mapreduce::Pool pool({.workers = 3, .items_per_task = 4});
  const auto grid = pool.map_product(
      [](const std::string& c, int p) { return static_cast<std::int64_t>(c.size()) * p - 7; }, cohorts, products);
  REQUIRE(grid.rows() == cohorts.size());
  REQUIRE(grid.cols() == products.size());
  for (std::size_t i = 0; i < cohorts.size(); ++i) {
    for (std::size_t j = 0; j < products.size(); ++j) {
      CHECK(grid.at(i, j) == static_cast<std::int64_t>(cohorts[i].size()) * products[j] - 7);
    }
  }
  CHECK(pool.map_product([](int a, int b) { return a + b; }, std::vector<int>{}, products).cells().empty());
  CHECK_THROWS_AS(grid.at(0, products.size()), std::out_of_range);
}

TEST_CASE("min_by and max_by fan in to one pick", "[dataset]") {
  test::LeakCheck leaks;
  struct Model {
    std::uint32_t id;
    double error;
  };
  mapreduce::Pool pool({.workers = 2, .items_per_task = 1});
  auto fit = [](std::uint32_t i, auto& emit) {
    emit(0, Model{i, (static_cast<double>(i) - 13.0) * (static_cast<double>(i) - 13.0)});
  };
  const auto best = pool.map_reduce<int, Model>(test::range(std::uint32_t(0), std::uint32_t(30)), fit,
                                                mapreduce::min_by([](const Model& m) { return m.error; }));
  REQUIRE(best.size() == 1);
  CHECK(best[0].second.id == 13);
  const auto worst = pool.map_reduce<int, Model>(test::range(std::uint32_t(0), std::uint32_t(30)), fit,
                                                 mapreduce::max_by([](const Model& m) { return m.error; }));
  CHECK(worst[0].second.id == 29);
}
