#pragma once
// The private hash table each worker combines into, on the map side and on the reduce side.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mapreduce/detail/arena.hpp"
#include "mapreduce/detail/radix_sort.hpp"
#include "mapreduce/detail/slot_array.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// The first 8 bytes of a string key, zero-padded: keys of up to 8 bytes (most words) are
// compared inside the slot, without touching the bytes the slot points to.
inline std::uint64_t key_prefix(std::string_view k) noexcept { return load_prefix(k.data(), k.size()); }

// Open addressing with linear probing over a power-of-two array of slots. Each slot keeps
// the key's full hash, so a probe compares 8 bytes before it looks at a key, and growing
// never hashes a key again. A hash of 0 marks an empty slot (hashes are never 0). Large
// arrays ask for huge pages: with hundreds of thousands of keys the table, not the input,
// is what misses the cache and the TLB.
//
// With CopyKeys, string keys are copied into an arena (the map side: the mapper's text may
// be gone after emit). Without it, the table keeps views into memory that outlives it (the
// reduce side: keys stay in the shared-memory runs they were read from).
template <class K, class V, bool CopyKeys>
class CombineTable {
 public:
  using View = typename KeyTraits<K>::view;
  static constexpr bool string_keys = std::is_same_v<View, std::string_view>;
  struct StringSlot {
    std::uint64_t hash;
    std::uint64_t prefix;
    std::string_view key;
    V value;
  };
  struct PlainSlot {
    std::uint64_t hash;
    View key;
    V value;
  };
  using Slot = std::conditional_t<string_keys, StringSlot, PlainSlot>;

  explicit CombineTable(std::size_t expected_keys = 1024) { reset_capacity(expected_keys); }

  // Adds `value` under `key`, folding it into the value already there with `combine`.
  template <class Combine>
  void add(std::uint64_t hash, View key, const V& value, Combine&& combine) {
    std::uint64_t prefix = 0;
    if constexpr (string_keys) prefix = key_prefix(key);
    add(hash, prefix, key, value, combine);
  }

  // The same, with the key's prefix (key_prefix) already at hand; 0 for other keys.
  template <class Combine>
  [[gnu::always_inline]] inline void add(std::uint64_t hash, std::uint64_t prefix, View key, const V& value,
                                         Combine&& combine) {
    std::size_t i = hash & mask_;
    for (;;) {
      Slot& s = slots_[i];
      if (s.hash == hash && same_key(s, key, prefix)) {
        s.value = combine(s.value, value);
        return;
      }
      if (s.hash == 0) break;
      i = (i + 1) & mask_;
    }
    if (size_ + 1 > (mask_ + 1) / 2) {
      grow();
      i = hash & mask_;
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
    }
    Slot& s = slots_[i];
    s.hash = hash;
    if constexpr (string_keys) {
      s.prefix = prefix;
      s.key = CopyKeys ? arena_.copy(key) : key;
    } else {
      s.key = key;
    }
    s.value = value;
    ++size_;
  }

  // Starts loading the slot where `hash` would go, for an add() a little later.
  void prefetch(std::uint64_t hash) const noexcept { __builtin_prefetch(&slots_[hash & mask_]); }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i <= mask_; ++i) {
      if (slots_[i].hash != 0) f(slots_[i]);
    }
  }

  // The occupied slots, in table order (a sorted job's reducer sorts them by key itself).
  [[nodiscard]] std::vector<const Slot*> slots() const {
    std::vector<const Slot*> out;
    out.reserve(size_);
    for_each([&](const Slot& s) { out.push_back(&s); });
    return out;
  }

  // The occupied slots, sorted by (hash, key): the order runs and results are written in.
  // Sorts (hash, slot) references held contiguously by radix, so the sort reads no slot; a
  // slot's key is looked at only when two hashes are equal.
  [[nodiscard]] std::vector<const Slot*> sorted_slots() const {
    std::vector<KeyedRef<Slot>> order, scratch;
    order.reserve(size_);
    for_each([&](const Slot& s) { order.push_back(KeyedRef<Slot>{s.hash, &s}); });
    sort_by_key(order, scratch);
    // Equal hashes (two keys in 2^64): order them by key, so the output stays deterministic.
    for (std::size_t i = 0; i + 1 < order.size();) {
      std::size_t j = i + 1;
      while (j < order.size() && order[j].key == order[i].key) ++j;
      if (j - i > 1) {
        std::sort(order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(j),
                  [](const auto& a, const auto& b) { return KeyTraits<K>::less(a.at->key, b.at->key); });
      }
      i = j;
    }
    std::vector<const Slot*> out;
    out.reserve(order.size());
    for (const auto& o : order) out.push_back(o.at);
    return out;
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return (mask_ + 1) * sizeof(Slot) + arena_.bytes(); }

  void clear() {
    arena_.clear();
    size_ = 0;
    reset_capacity(1024);
  }

 private:
  static bool same_key(const Slot& s, View key, std::uint64_t prefix) noexcept {
    if constexpr (string_keys) {
      if (s.prefix != prefix || s.key.size() != key.size()) return false;
      return key.size() <= 8 || std::memcmp(s.key.data() + 8, key.data() + 8, key.size() - 8) == 0;
    } else {
      return KeyTraits<K>::equal(s.key, key);
    }
  }
  void reset_capacity(std::size_t expected_keys) {
    std::size_t cap = 16;
    while (cap < expected_keys * 2) cap *= 2;
    slots_ = SlotArray<Slot>(cap);  // zeroed: every hash is 0
    mask_ = cap - 1;
  }
  void grow() {
    const std::size_t old_cap = mask_ + 1;
    SlotArray<Slot> old = std::move(slots_);
    slots_ = SlotArray<Slot>(old_cap * 2);
    mask_ = old_cap * 2 - 1;
    for (std::size_t j = 0; j < old_cap; ++j) {
      if (old[j].hash == 0) continue;
      std::size_t i = old[j].hash & mask_;
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
      slots_[i] = old[j];
    }
  }

  SlotArray<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  Arena arena_;
};

}  // namespace mapreduce::detail
