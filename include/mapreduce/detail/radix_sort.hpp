#pragma once
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mapreduce::detail {

// A 64-bit sort key and what it stands for, 16 bytes: sorting these moves no key or value.
// A combining reducer sorts references to its table's slots by hash; RecordRef, to bytes.
template <class T>
struct KeyedRef {
  std::uint64_t key;
  const T* at;
};
using RecordRef = KeyedRef<char>;

namespace radix {
struct Digit {
  int shift;
  int bits;
};
inline constexpr int max_digit_bits = 11;  // 2048 counters per pass stay in L1; 16-bit digits would not
inline constexpr std::size_t buckets = std::size_t(1) << max_digit_bits;

// The digits covering bits [lo, hi), cut at `split` as well, lowest first.
inline std::size_t digits_of(int lo, int hi, int split, Digit* out) {
  std::size_t n = 0;
  while (lo < hi) {
    const int end = lo < split && split < hi ? split : hi;
    const int bits = std::min(max_digit_bits, end - lo);
    out[n++] = Digit{lo, bits};
    lo += bits;
  }
  return n;
}

// Sorts [a, a + n) by key, stably, on the given digits (an LSD radix sort), with `tmp` as
// much space again; returns a or tmp, whichever holds the result. Digits that every record
// shares are skipped, found by one counting pass over them all.
template <class Ref>
Ref* lsd_sort(Ref* a, Ref* tmp, std::size_t n, const Digit* digits, std::size_t count,
              std::vector<std::uint32_t>& counters) {
  if (n < 32) {  // insertion sort: no counters to clear
    for (std::size_t i = 1; i < n; ++i) {
      const Ref x = a[i];
      std::size_t j = i;
      for (; j > 0 && a[j - 1].key > x.key; --j) a[j] = a[j - 1];
      a[j] = x;
    }
    return a;
  }
  if (n < 1024) {  // clearing and summing 2048 counters per digit would cost more than a merge sort
    std::stable_sort(a, a + n, [](const Ref& x, const Ref& y) { return x.key < y.key; });
    return a;
  }
  counters.assign(count * buckets, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t k = a[i].key;
    for (std::size_t d = 0; d < count; ++d) {
      ++counters[d * buckets + ((k >> digits[d].shift) & ((std::uint64_t(1) << digits[d].bits) - 1))];
    }
  }
  for (std::size_t d = 0; d < count; ++d) {
    std::uint32_t* c = counters.data() + d * buckets;
    const int shift = digits[d].shift;
    const std::uint64_t mask = (std::uint64_t(1) << digits[d].bits) - 1;
    if (c[(a[0].key >> shift) & mask] == n) continue;
    std::uint32_t sum = 0;
    for (std::size_t b = 0; b <= mask; ++b) {
      const std::uint32_t k = c[b];
      c[b] = sum;
      sum += k;
    }
    for (std::size_t i = 0; i < n; ++i) tmp[c[(a[i].key >> shift) & mask]++] = a[i];
    std::swap(a, tmp);
  }
  return a;
}
}  // namespace radix

// Sorts records by key, keeping the order of equal keys. One MSD pass on up to 11 bits below
// those that every key shares cuts the records into buckets small enough for the cache
// (about 2048 records each), and each bucket is then LSD-sorted on its remaining bits, in
// digits of at most 11 bits, cut at `split` too: a reducer keeps task numbers below it,
// which rarely need more than one digit, and whole digits that every record of a bucket
// shares are skipped. `scratch` is a buffer reused between calls.
template <class T>
void sort_by_key(std::vector<KeyedRef<T>>& v, std::vector<KeyedRef<T>>& scratch, int split = 64) {
  using Ref = KeyedRef<T>;
  const std::size_t n = v.size();
  if (n < 64 || n > UINT32_MAX) {  // small: no counters to clear; huge: beyond 32-bit counts
    std::stable_sort(v.begin(), v.end(), [](const Ref& a, const Ref& b) { return a.key < b.key; });
    return;
  }
  std::uint64_t differ = 0;
  for (const Ref& r : v) differ |= r.key ^ v[0].key;
  if (differ == 0) return;
  const int high = 63 - std::countl_zero(differ);  // the highest bit that varies
  // Buckets of about 2048 records on average: 11 bits for 4 M records, fewer for fewer.
  const int msd_bits = std::clamp(static_cast<int>(std::bit_width(n / 2048)), 1, radix::max_digit_bits);
  const int msd_lo = std::max(high + 1 - msd_bits, 0);
  scratch.resize(n);
  radix::Digit digits[16];
  std::vector<std::uint32_t> counters;
  const std::size_t count = radix::digits_of(0, msd_lo, split, digits);
  // The MSD pass, from v into scratch.
  const std::uint64_t mask = (std::uint64_t(1) << (high + 1 - msd_lo)) - 1;
  std::vector<std::uint32_t> start(mask + 2, 0);
  for (const Ref& r : v) ++start[((r.key >> msd_lo) & mask) + 1];
  for (std::size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
  {
    std::vector<std::uint32_t> at(start.begin(), start.end() - 1);
    for (const Ref& r : v) scratch[at[(r.key >> msd_lo) & mask]++] = r;
  }
  // Each bucket, sorted on the bits below, back into v.
  for (std::size_t b = 0; b + 1 < start.size(); ++b) {
    const std::size_t first = start[b], size = start[b + 1] - start[b];
    if (size == 0) continue;
    const Ref* sorted = radix::lsd_sort(scratch.data() + first, v.data() + first, size, digits, count, counters);
    if (sorted != v.data() + first) std::copy_n(sorted, size, v.data() + first);
  }
}

}  // namespace mapreduce::detail
