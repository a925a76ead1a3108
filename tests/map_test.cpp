// Pool::map: f(item) in worker processes, results in input order.
#include <mapreduce/mapreduce.hpp>

#include <ranges>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

TEST_CASE("map keeps input order for any worker count and task size", "[map]") {
  test::LeakCheck leaks;
  std::vector<std::int64_t> items(10007);
  std::iota(items.begin(), items.end(), -5000);
  std::vector<std::int64_t> expected;
  for (auto x : items) expected.push_back(x * x - 1);
  for (unsigned workers : {1u, 2u, 3u, 8u}) {
    for (std::size_t per_task : {0u, 1u, 100u, 20000u}) {
      INFO("workers " << workers << ", items per task " << per_task);
      mapreduce::Pool pool({.workers = workers, .items_per_task = per_task});
      CHECK(pool.map([](std::int64_t x) { return x * x - 1; }, items) == expected);
      CHECK(pool.last_stats().records == items.size());
    }
  }
}

TEST_CASE("map returns strings and vectors, and runs over views", "[map]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 3});
  const auto numbers = test::range(0, 500);
  const auto strings = pool.map(
      [](int i) { return std::string(static_cast<std::size_t>(i % 7), 'a') + "#" + std::to_string(i); },
      std::span<const int>(numbers));  // a view: any random-access range
  REQUIRE(strings.size() == 500);
  for (int i = 0; i < 500; ++i)
    CHECK(strings[static_cast<std::size_t>(i)] ==
          std::string(static_cast<std::size_t>(i % 7), 'a') + "#" + std::to_string(i));
  const std::vector<std::string> words{"x", "", "yy"};
  CHECK(pool.map([](const std::string& s) { return std::vector<std::size_t>(s.size(), s.size()); }, words) ==
        std::vector<std::vector<std::size_t>>{{1}, {}, {2, 2}});
  CHECK(pool.map([](int i) { return i; }, std::vector<int>{}).empty());
}

TEST_CASE("map runs f in other processes, which cannot change the parent", "[map]") {
  test::LeakCheck leaks;
  int touched = 0;
  mapreduce::Pool pool({.workers = 2});
  const auto pids = pool.map(
      [&](int) {
        ++touched;  // the worker's copy
        return static_cast<int>(::getpid());
      },
      std::vector<int>(64, 0));
  CHECK(touched == 0);
  CHECK(std::find(pids.begin(), pids.end(), static_cast<int>(::getpid())) == pids.end());
}

TEST_CASE("an exception in f names the items of its task", "[map][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .items_per_task = 10});
  try {
    (void)pool.map(
        [](int i) {
          if (i == 42) throw std::out_of_range("no 42");
          return i;
        },
        test::range(0, 100));
    FAIL("no exception");
  } catch (const mapreduce::JobError& e) {
    CHECK(std::string(e.what()) == "map task items 40-49: std::out_of_range: no 42");
  }
}
