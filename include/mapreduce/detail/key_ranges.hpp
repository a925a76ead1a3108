#pragma once
// Key order: the partitions of a sorted job are ranges of keys, cut where a sample of the
// job's keys says they hold about as many keys each (Hadoop's TotalOrderPartitioner, Spark's
// sortByKey), and each reducer sorts its range. Concatenating the partitions in order then
// gives every key in KeyTraits::less order, whatever the numbers of workers and partitions.
// Pure logic over memory.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/radix_sort.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// The first 8 bytes of `s` from `at`, big-endian, zero past its end: ordered as the bytes are.
inline std::uint64_t order_prefix(std::string_view s, std::size_t at) noexcept {
  unsigned char b[8] = {};
  if (at < s.size()) std::memcpy(b, s.data() + at, std::min<std::size_t>(8, s.size() - at));
  std::uint64_t v = 0;
  for (const unsigned char c : b) v = (v << 8) | c;
  return v;
}

namespace key_order {
// Sorts refs[first, last) (whose keys agree on their bytes before `depth`) by the keys' bytes
// from `depth` on: a radix sort on the next 8 bytes, then the runs that agree on those as
// well, 8 bytes further. Past `max_depth` bytes, or for small runs, a comparison sort.
template <class T, class KeyOf>
void sort_strings(std::vector<KeyedRef<T>>& refs, std::size_t first, std::size_t last, std::size_t depth,
                  KeyOf& key_of) {
  constexpr std::size_t max_depth = 64;
  auto less = [&](const KeyedRef<T>& a, const KeyedRef<T>& b) { return key_of(*a.at) < key_of(*b.at); };
  if (last - first < 64 || depth >= max_depth) {
    std::sort(refs.begin() + static_cast<std::ptrdiff_t>(first), refs.begin() + static_cast<std::ptrdiff_t>(last),
              less);
    return;
  }
  std::vector<KeyedRef<T>> part(refs.begin() + static_cast<std::ptrdiff_t>(first),
                                refs.begin() + static_cast<std::ptrdiff_t>(last));
  std::vector<KeyedRef<T>> scratch;
  for (auto& r : part) r.key = order_prefix(key_of(*r.at), depth);
  sort_by_key(part, scratch);
  std::copy(part.begin(), part.end(), refs.begin() + static_cast<std::ptrdiff_t>(first));
  for (std::size_t i = 0; i < part.size();) {
    std::size_t j = i + 1;
    while (j < part.size() && part[j].key == part[i].key) ++j;
    // Keys that agree on these 8 bytes and all end within them are equal up to their
    // lengths: only those that go on need the next 8 bytes.
    if (j - i > 1) sort_strings(refs, first + i, first + j, depth + 8, key_of);
    i = j;
  }
}
}  // namespace key_order

// Sorts `items` by KeyTraits<K>::less of key_of(item). The keys are distinct (a reducer's
// output), so the order is total. std::string keys go through a radix sort on their bytes,
// 8 at a time; other keys through std::sort.
template <class K, class T, class KeyOf>
void sort_in_key_order(std::vector<T>& items, KeyOf key_of) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::vector<KeyedRef<T>> refs;
    refs.reserve(items.size());
    for (const T& item : items) refs.push_back(KeyedRef<T>{0, &item});
    key_order::sort_strings(refs, 0, refs.size(), 0, key_of);
    std::vector<T> sorted;
    sorted.reserve(items.size());
    for (const auto& r : refs) sorted.push_back(std::move(*const_cast<T*>(r.at)));
    items = std::move(sorted);
  } else {
    std::sort(items.begin(), items.end(),
              [&](const T& a, const T& b) { return KeyTraits<K>::less(key_of(a), key_of(b)); });
  }
}

// The partitions of a sorted job: partition p holds the keys k with bounds[p-1] <= k <
// bounds[p] (the first from the lowest key, the last to the highest). Bounds may repeat
// when one key is much of the sample: the partitions between them are empty.
template <class K>
class KeyRanges {
 public:
  using View = typename KeyTraits<K>::view;
  static constexpr bool string_keys = std::is_same_v<K, std::string>;  // searched by prefix first

  KeyRanges() = default;
  // Movable (the views are into `storage_`, whose buffer moves with it), not copyable.
  KeyRanges(KeyRanges&&) noexcept = default;
  KeyRanges& operator=(KeyRanges&&) noexcept = default;
  KeyRanges(const KeyRanges&) = delete;
  KeyRanges& operator=(const KeyRanges&) = delete;

  // Cuts `partitions` ranges from `sample` (keys, in any order, repeats counted unless
  // `distinct`): bound i is the key at quantile (i + 1) / partitions of the sorted sample.
  static KeyRanges from_sample(std::vector<View> sample, std::uint32_t partitions, bool distinct = false) {
    KeyRanges r;
    r.partitions_ = std::max<std::uint32_t>(partitions, 1);
    if (sample.empty() || r.partitions_ == 1) return r;
    std::sort(sample.begin(), sample.end(), [](const View& a, const View& b) { return KeyTraits<K>::less(a, b); });
    if (distinct) {
      sample.erase(std::unique(sample.begin(), sample.end(),
                               [](const View& a, const View& b) { return KeyTraits<K>::equal(a, b); }),
                   sample.end());
    }
    std::vector<View> chosen;
    for (std::uint32_t i = 1; i < r.partitions_; ++i) {
      chosen.push_back(sample[static_cast<std::size_t>(std::uint64_t(i) * sample.size() / r.partitions_)]);
    }
    // Stored as KeyTraits writes them, and read back as views into that storage: a view is
    // all the key traits offer, and an owned K may not make one.
    std::size_t bytes = 0;
    for (const View& k : chosen) bytes += KeyTraits<K>::size(k);
    r.storage_.assign(bytes + codec_slack, '\0');  // room after, as a user's write() is given
    char* out = r.storage_.data();
    for (const View& k : chosen) out = KeyTraits<K>::write(out, k);
    const char* in = r.storage_.data();
    for (std::size_t i = 0; i < chosen.size(); ++i) r.bounds_.push_back(KeyTraits<K>::read(in));
    if constexpr (string_keys) {
      for (const View& b : r.bounds_) r.bound_prefixes_.push_back(order_prefix(b, 0));
    }
    return r;
  }

  [[nodiscard]] std::uint32_t partitions() const noexcept { return partitions_; }
  [[nodiscard]] const std::vector<View>& bounds() const noexcept { return bounds_; }

  // The partition of `key`: how many bounds are at or below it.
  [[nodiscard]] std::uint32_t partition(const View& key) const {
    if constexpr (string_keys) {
      return partition(key, order_prefix(key, 0));
    } else {
      return search([&key](const View& bound) { return KeyTraits<K>::less(key, bound); });
    }
  }
  // The same for a std::string key whose first 8 bytes, big-endian (order_prefix), are at
  // hand: most comparisons are then settled without reading the key, which in a map
  // worker's table is a cache miss away.
  [[nodiscard]] std::uint32_t partition(std::string_view key, std::uint64_t prefix) const requires string_keys {
    return search([&](const View& bound) {
      const std::uint64_t b = bound_prefixes_[static_cast<std::size_t>(&bound - bounds_.data())];
      return prefix != b ? prefix < b : key < bound;
    });
  }

 private:
  // upper_bound over the bounds, `below(bound)` saying whether the key sorts before it;
  // written out, as it is on every record's path.
  template <class Below>
  [[nodiscard]] std::uint32_t search(Below below) const {
    std::size_t lo = 0, n = bounds_.size();
    while (n > 0) {
      const std::size_t half = n / 2;
      if (!below(bounds_[lo + half])) {
        lo += half + 1;
        n -= half + 1;
      } else {
        n = half;
      }
    }
    return static_cast<std::uint32_t>(lo);
  }

  std::uint32_t partitions_ = 1;
  std::vector<char> storage_;  // a vector's buffer stays where it is when the vector moves
  std::vector<View> bounds_;
  std::vector<std::uint64_t> bound_prefixes_;  // std::string keys: each bound's order_prefix
};

}  // namespace mapreduce::detail
