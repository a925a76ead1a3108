#pragma once
// Helpers for the vector of (key, value) pairs that map_reduce returns. The result comes
// in an order that depends only on the keys (by hash), the same for any number of workers
// and partitions; these put it in the order you want to read it in.
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace mapreduce {

/// Sorts by key ascending (std::string keys: bytewise).
template <class K, class V>
void sort_by_key(std::vector<std::pair<K, V>>& result) {
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

/// Sorts by value descending, ties by key ascending: a word count's natural order.
template <class K, class V>
void sort_by_value_desc(std::vector<std::pair<K, V>>& result) {
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return b.second < a.second;
    return a.first < b.first;
  });
}

/// The `n` pairs with the largest values (ties by key ascending), in that order.
/// Moves them out of `result`, selecting before sorting so only n pairs are sorted.
template <class K, class V>
[[nodiscard]] std::vector<std::pair<K, V>> top_n(std::vector<std::pair<K, V>> result, std::size_t n) {
  auto by_value_desc = [](const auto& a, const auto& b) {
    if (a.second != b.second) return b.second < a.second;
    return a.first < b.first;
  };
  if (n < result.size()) {
    std::nth_element(result.begin(), result.begin() + static_cast<std::ptrdiff_t>(n), result.end(), by_value_desc);
    result.resize(n);
  }
  std::sort(result.begin(), result.end(), by_value_desc);
  return result;
}

}  // namespace mapreduce
