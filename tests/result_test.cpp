#include <mapreduce/result.hpp>

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

using Pairs = std::vector<std::pair<std::string, int>>;

TEST_CASE("top_n takes the largest values, ties by key, in order", "[result]") {
  const Pairs all{{"b", 3}, {"a", 3}, {"c", 1}, {"d", 5}, {"e", 2}};
  CHECK(mapreduce::top_n(all, 3) == Pairs{{"d", 5}, {"a", 3}, {"b", 3}});
  CHECK(mapreduce::top_n(all, 0).empty());
  CHECK(mapreduce::top_n(all, 99) == Pairs{{"d", 5}, {"a", 3}, {"b", 3}, {"e", 2}, {"c", 1}});
}

TEST_CASE("sort_by_key and sort_by_value_desc", "[result]") {
  Pairs p{{"b", 1}, {"a", 2}, {"c", 2}};
  mapreduce::sort_by_key(p);
  CHECK(p == Pairs{{"a", 2}, {"b", 1}, {"c", 2}});
  mapreduce::sort_by_value_desc(p);
  CHECK(p == Pairs{{"a", 2}, {"c", 2}, {"b", 1}});
}
