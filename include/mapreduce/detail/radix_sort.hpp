#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mapreduce::detail {

// Sorts (hash, payload) pairs by hash: LSD radix sort, four passes of 16 bits. Reducers sort
// every distinct key of their partition by hash; for hundreds of thousands of keys this is
// several times faster than a comparison sort, and hashes need no comparison of keys.
// Pairs with equal hashes keep their relative order (every pass is stable).
template <class T>
void radix_sort_by_hash(std::vector<std::pair<std::uint64_t, T>>& v) {
  if (v.size() < 256) {
    // Insertion sort: small partitions are common and need no 256 KiB of counters.
    for (std::size_t i = 1; i < v.size(); ++i) {
      auto x = std::move(v[i]);
      std::size_t j = i;
      for (; j > 0 && v[j - 1].first > x.first; --j) v[j] = std::move(v[j - 1]);
      v[j] = std::move(x);
    }
    return;
  }
  std::vector<std::pair<std::uint64_t, T>> tmp(v.size());
  std::vector<std::size_t> count(std::size_t(1) << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const auto& e : v) ++count[(e.first >> shift) & 0xffff];
    // A digit every element shares would move nothing: skip the pass.
    if (count[(v[0].first >> shift) & 0xffff] == v.size()) continue;
    std::size_t sum = 0;
    for (auto& c : count) {
      const std::size_t n = c;
      c = sum;
      sum += n;
    }
    for (auto& e : v) tmp[count[(e.first >> shift) & 0xffff]++] = std::move(e);
    v.swap(tmp);
  }
}

}  // namespace mapreduce::detail
