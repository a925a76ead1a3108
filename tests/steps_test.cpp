// Fused map steps: the same pairs as the hand-written mapper, and failures that name the step.
#include <mapreduce/mapreduce.hpp>

#include <charconv>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "support.hpp"

namespace {
struct Row {
  std::string_view key;
  int value = 0;
  bool ok = false;
};
Row parse(std::string_view line) {
  Row r;
  const auto comma = line.find(',');
  if (comma == std::string_view::npos) return r;
  r.key = line.substr(0, comma);
  const auto v = line.substr(comma + 1);
  r.ok = std::from_chars(v.data(), v.data() + v.size(), r.value).ec == std::errc();
  return r;
}
}  // namespace

TEST_CASE("fused steps give what the nested hand-written mapper gives", "[steps]") {
  test::LeakCheck leaks;
  test::TempDir dir;
  std::string csv;
  for (int i = 0; i < 5000; ++i)
    csv += "k" + std::to_string(i % 37) + "," + (i % 11 == 0 ? "x" : std::to_string(i)) + "\n";
  const auto file = dir.write("rows.csv", csv);
  mapreduce::Pool pool({.workers = 2, .chunk_bytes = 4096});
  auto fused = mapreduce::fuse([](std::string_view chunk, auto&& next) { mapreduce::for_each_record(chunk, next); },
                               mapreduce::map_step(parse), mapreduce::filter_step([](const Row& r) { return r.ok; }),
                               // A step may pass on more than one thing: each value twice, once doubled.
                               [](const Row& r, auto&& next) {
                                 next(std::pair(r.key, r.value));
                                 next(std::pair(r.key, 2 * r.value));
                               },
                               [](const std::pair<std::string_view, int>& kv, auto& emit) {
                                 emit(kv.first, static_cast<std::int64_t>(kv.second));
                               });
  auto by_hand = [](std::string_view chunk, auto& emit) {
    mapreduce::for_each_record(chunk, [&](std::string_view line) {
      const Row r = parse(line);
      if (!r.ok) return;
      emit(r.key, static_cast<std::int64_t>(r.value));
      emit(r.key, static_cast<std::int64_t>(2 * r.value));
    });
  };
  const auto a = pool.map_reduce<std::string, std::int64_t>(mapreduce::FileInput{{file}}, fused, std::plus<>{});
  const auto b = pool.map_reduce<std::string, std::int64_t>(mapreduce::FileInput{{file}}, by_hand, std::plus<>{});
  CHECK(a.size() == 37);
  CHECK(a == b);
}

TEST_CASE("a named step that throws fails the job naming the step and the task", "[steps][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .items_per_task = 10});
  auto mapper = mapreduce::fuse(mapreduce::named_step("parse", mapreduce::map_step([](int i) {
                                                        if (i == 57) throw std::invalid_argument("bad row 57");
                                                        return i * 2;
                                                      })),
                                mapreduce::named_step("check", mapreduce::filter_step([](int x) {
                                                        if (x == 84) throw std::range_error("42 doubled");
                                                        return true;
                                                      })),
                                [](int x, auto& emit) { emit(x % 3, x); });
  const std::string first =
      test::job_error([&] { (void)pool.map_reduce<int, int>(test::range(50, 70), mapper, std::plus<>{}); });
  CHECK(first == "map task items 0-9: mapreduce::StepError: step 'parse': std::invalid_argument: bad row 57");
  const std::string second =
      test::job_error([&] { (void)pool.map_reduce<int, int>(test::range(40, 50), mapper, std::plus<>{}); });
  // The later step's error passes through the earlier named step unchanged.
  CHECK(second == "map task items 0-9: mapreduce::StepError: step 'check': std::range_error: 42 doubled");
}
