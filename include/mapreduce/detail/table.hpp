#pragma once
// The private hash table each worker combines into, on the map side and on the reduce side.
#include <algorithm>
#include <array>
#include <bit>
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
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// The first 8 bytes of a string key, zero-padded: keys of up to 8 bytes (most words) are
// compared inside the slot, without touching the bytes the slot points to.
inline std::uint64_t key_prefix(std::string_view k) noexcept { return load_prefix(k.data(), k.size()); }

// A string key's slot on the map side, 32 bytes with an 8-byte value: two to a cache line,
// and never across two. A key of up to 15 bytes (most words) lives in the slot itself, so a
// lookup compares three words and reads nothing else; a longer key lives in the table's
// arena, behind its length, and the slot keeps its first 8 bytes and its address.
//
// The 16 key bytes: w0 holds bytes 0-7, zero-padded. For a key kept in the slot, w1 holds
// bytes 8-14, zero-padded, and its top byte is 0x80 | length; otherwise w1 is the address of
// the arena entry, whose top bit is 0 in every user-space address of x86-64 and AArch64
// (whose pointer tags use bits 56-59). So the three words are equal exactly when the keys
// are, for keys kept in the slot.
template <class V>
struct InlineStringSlot {
  static constexpr std::size_t max_inline = 15;
  static constexpr std::uint64_t inline_bit = std::uint64_t(1) << 63;

  std::uint64_t hash;
  std::uint64_t w0;
  std::uint64_t w1;
  V value;

  // What w1 holds for `key` when the key fits the slot, 0 when it does not.
  static std::uint64_t inline_word(std::string_view key) noexcept {
    if (key.size() > max_inline) return 0;
    const std::uint64_t tail = key.size() > 8 ? load_prefix(key.data() + 8, key.size() - 8) : 0;
    return tail | ((inline_bit | (std::uint64_t(key.size()) << 56)));
  }
  // Both words of a key of at most max_inline bytes: two loads and two masks when its 16
  // bytes are in one page, as they are for all but one word in 256. No byte is read past
  // the key when they are not.
  [[gnu::always_inline]] static inline void inline_words(const char* p, std::size_t n, std::uint64_t& w0,
                                                         std::uint64_t& w1) noexcept {
    std::uint64_t lo = 0, hi = 0;
    if (n == 0) {
      // An empty view may point just past the end of a page: nothing may be read there.
    } else if (can_read_ahead(p, 16)) {
      lo = load_u64_ahead(p);
      hi = load_u64_ahead(p + 8);
    } else {
      char bytes[16] = {};
      std::memcpy(bytes, p, n);
      lo = load_u64(bytes);
      hi = load_u64(bytes + 8);
    }
    // Masks from a table, not from the length in branches: words of every length come
    // mixed, and a branch on it was among word count's commonest mispredictions.
    w0 = lo & byte_masks[n + 8];
    w1 = (hi & byte_masks[n]) | inline_bit | (std::uint64_t(n) << 56);
  }
  // byte_masks[i]: the low i - 8 bytes set, none below 9 and all 8 from 16.
  static constexpr std::array<std::uint64_t, 24> byte_masks = [] {
    std::array<std::uint64_t, 24> m{};
    for (std::size_t i = 9; i < 24; ++i) m[i] = i >= 16 ? ~std::uint64_t(0) : (std::uint64_t(1) << (8 * (i - 8))) - 1;
    return m;
  }();
  [[nodiscard]] std::string_view key() const noexcept {
    if ((w1 & inline_bit) != 0) {
      // The two words are contiguous and little-endian: the key's bytes, in order, read
      // as the slot's own bytes (a view from &w0 would run past that 8-byte object).
      return {reinterpret_cast<const char*>(this) + offsetof(InlineStringSlot, w0),
              static_cast<std::size_t>((w1 >> 56) & 0x7f)};
    }
    const char* entry = reinterpret_cast<const char*>(static_cast<std::uintptr_t>(w1));
    std::uint64_t n;
    std::memcpy(&n, entry, 8);
    return {entry + 8, static_cast<std::size_t>(n)};
  }
  [[nodiscard]] std::uint64_t prefix() const noexcept { return w0; }
};

// Open addressing with linear probing over a power-of-two array of slots. Each slot keeps
// the key's full hash, so a probe compares 8 bytes before it looks at a key, and growing
// never hashes a key again. A hash of 0 marks an empty slot (hashes are never 0). Large
// arrays ask for huge pages: with hundreds of thousands of keys the table, not the input,
// is what misses the cache and the TLB. It grows at three quarters full, not half: with
// two slots to a cache line, most probes past the first stay in its line, and a table half
// the size keeps more of a large vocabulary in the cache (wordcount on 1 GiB of text with
// 346 k distinct words, 2 workers: 1.70 s against 1.89 s at half full; English, 33 k
// words: 1.52 s against 1.56 s).
//
// With CopyKeys, string keys are copied into an arena (the map side: the mapper's text may
// be gone after emit). Without it, the table keeps views into memory that outlives it (the
// reduce side: keys stay in the shared-memory runs they were read from).
template <class K, class V, bool CopyKeys>
class CombineTable {
 public:
  using View = typename KeyTraits<K>::view;
  static constexpr bool string_keys = std::is_same_v<View, std::string_view>;
  // The reduce side (no CopyKeys) keeps views into the runs it reads.
  struct StringSlot {
    std::uint64_t hash;
    std::uint64_t prefix_;
    std::string_view k;
    V value;
    [[nodiscard]] std::string_view key() const noexcept { return k; }
    [[nodiscard]] std::uint64_t prefix() const noexcept { return prefix_; }
  };
  struct PlainSlot {
    std::uint64_t hash;
    View k;
    V value;
    [[nodiscard]] View key() const noexcept { return k; }
  };
  static constexpr bool inline_keys = string_keys && CopyKeys && std::endian::native == std::endian::little;
  using Slot =
      std::conditional_t<inline_keys, InlineStringSlot<V>, std::conditional_t<string_keys, StringSlot, PlainSlot>>;

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
    std::uint64_t word = 0;
    if constexpr (inline_keys) word = Slot::inline_word(key);
    upsert(
        hash, [&](const Slot& s) { return same_key(s, key, prefix, word); },
        [&](Slot& s) {
          if constexpr (inline_keys) {
            s.w0 = prefix;
            s.w1 = word != 0 ? word : arena_entry(key);
          } else if constexpr (string_keys) {
            s.prefix_ = prefix;
            s.k = CopyKeys ? arena_.copy(key) : key;
          } else {
            s.k = key;
          }
        },
        value, combine);
  }

  // add() for a key that fits its slot, given as its two words (InlineStringSlot::inline_words):
  // the lookup compares three words and reads nothing else.
  template <class Combine>
  [[gnu::always_inline]] inline void add_inline(std::uint64_t hash, std::uint64_t w0, std::uint64_t w1, const V& value,
                                                Combine&& combine) requires inline_keys {
    upsert(
        hash, [&](const Slot& s) { return s.w0 == w0 && s.w1 == w1; },
        [&](Slot& s) {
          s.w0 = w0;
          s.w1 = w1;
        },
        value, combine);
  }

  // Starts loading the slot where `hash` would go, for an add() a little later.
  // Always inlined: out of line, GCC judges it a function without effects and drops its calls.
  [[gnu::always_inline]] inline void prefetch(std::uint64_t hash) const noexcept {
    __builtin_prefetch(&slots_[hash & mask_]);
  }

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
                  [](const auto& a, const auto& b) { return KeyTraits<K>::less(a.at->key(), b.at->key()); });
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
  // The probe both adds share: folds `value` into the slot of `hash` whose key `matches`,
  // or takes the first empty slot (growing first at three quarters full) and has `fill`
  // write the key into it.
  template <class Matches, class Fill, class Combine>
  [[gnu::always_inline]] inline void upsert(std::uint64_t hash, Matches&& matches, Fill&& fill, const V& value,
                                            Combine&& combine) {
    std::size_t i = hash & mask_;
    for (;;) {
      Slot& s = slots_[i];
      if (s.hash == hash && matches(s)) {
        s.value = combine(s.value, value);
        return;
      }
      if (s.hash == 0) break;
      i = (i + 1) & mask_;
    }
    if (size_ + 1 > (mask_ + 1) / 4 * 3) {
      grow();
      i = hash & mask_;
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
    }
    Slot& s = slots_[i];
    s.hash = hash;
    fill(s);
    s.value = value;
    ++size_;
  }

  static bool same_key(const Slot& s, View key, std::uint64_t prefix, [[maybe_unused]] std::uint64_t word) noexcept {
    if constexpr (inline_keys) {
      if (s.w0 != prefix) return false;
      if (s.w1 == word) return true;
      if (word != 0 || (s.w1 & Slot::inline_bit) != 0) return false;  // one of the two fits the slot
      const std::string_view k = s.key();
      return k.size() == key.size() && std::memcmp(k.data() + 8, key.data() + 8, key.size() - 8) == 0;
    } else if constexpr (string_keys) {
      if (s.prefix_ != prefix || s.k.size() != key.size()) return false;
      return key.size() <= 8 || std::memcmp(s.k.data() + 8, key.data() + 8, key.size() - 8) == 0;
    } else {
      return KeyTraits<K>::equal(s.k, key);
    }
  }
  // A key too long for its slot, copied into the arena behind its length; its address.
  std::uint64_t arena_entry(std::string_view key) {
    char* entry = arena_.allocate(8 + key.size());
    const std::uint64_t n = key.size();
    std::memcpy(entry, &n, 8);
    std::memcpy(entry + 8, key.data(), key.size());
    const auto address = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(entry));
    if ((address & Slot::inline_bit) != 0) [[unlikely]] {
      throw Error("CombineTable: an arena address with its top bit set, which no user-space address has");
    }
    return address;
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
