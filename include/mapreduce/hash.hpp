#pragma once
// Hashing of keys. One 64-bit hash per key is computed once, at emit, and reused:
// its high bits choose the partition (see partition.hpp), its low bits the table slot.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace mapreduce {

namespace detail {
inline std::uint64_t load_u64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
// 8 bytes from p, of which fewer may belong to the key: can_read_ahead checked that all 8
// are in p's page, which is mapped. GCC sees the object when a mapper emits a literal and
// warns of the bytes past it (-Warray-bounds); the load is deliberate, so that warning is
// off here alone, never for the code that includes this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#if __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
#endif
inline std::uint64_t load_u64_ahead(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
// n (a constant) bytes from `from`, which may run past the key within its page, as above.
template <std::size_t n>
inline void copy_ahead(char* to, const char* from) noexcept {
  std::memcpy(to, from, n);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
inline std::uint64_t load_u32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Whether n bytes from p can be loaded at once although fewer belong to the object: true
// when they stay inside p's memory page, which is mapped if p is (loads of a fixed size
// compile to one or two instructions; a variable-size memcpy is a call). Never under
// AddressSanitizer, which would rightly report the bytes past the object.
inline bool can_read_ahead([[maybe_unused]] const void* p, [[maybe_unused]] std::size_t n) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return (reinterpret_cast<std::uintptr_t>(p) & 4095) <= 4096 - n;
#endif
#else
  return (reinterpret_cast<std::uintptr_t>(p) & 4095) <= 4096 - n;
#endif
}

// Multiply to 128 bits and fold the halves: every input bit reaches every output bit
// in one multiplication, which is why short keys cost one step.
//
// Every multiplication of the hash has one operand fixed: a constant (for short keys, one
// per length) with about half of its bits set. With both operands shaped by the key, a key
// could make one of them 0 (the product is then 0 whatever the other holds) or all ones
// (the fold is then all ones) and so erase what the other one carried. The long-key hash
// once did: a 16-byte block that began with the constant XORed into it erased every byte
// before it, and keys built so all hashed alike. With one operand fixed, one input value
// folds to 0, and no input wipes out another.
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang: one MUL instruction on x86-64
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
// Keys of up to 8 bytes and integers (hash_short, hash_integer).
inline constexpr std::uint64_t hash_k0 = 0x9e6c63d0676a9a99ULL;
inline constexpr std::uint64_t hash_k1 = 0xc2b2ae3d27d4eb4fULL;
inline constexpr std::uint64_t hash_k2 = 0x85ebca77c2b2ae63ULL;
// Longer keys (hash_long): the two lanes' starting values, their multipliers, and what the
// last step XORs and multiplies by. Random odd numbers of 30 to 35 set bits, drawn for
// this file.
inline constexpr std::uint64_t hash_lane_a = 0xb396e669bd5c8c4dULL;
inline constexpr std::uint64_t hash_lane_b = 0xe3a13c87da2acdadULL;
inline constexpr std::uint64_t hash_m_a = 0xc739e64cd03d70ddULL;
inline constexpr std::uint64_t hash_m_b = 0xac62222da6e5ad7dULL;
inline constexpr std::uint64_t hash_m_end = 0xc249154be3cf76e3ULL;
inline constexpr std::uint64_t hash_end = 0xc9d08b2384761ed3ULL;
}  // namespace detail

namespace detail {
// The first min(n, 8) bytes of p, zero-padded into a 64-bit word. One load when the 8
// bytes stay inside p's page; string keys of up to 8 bytes (most words) are this word.
[[gnu::always_inline]] inline std::uint64_t load_prefix(const char* p, std::size_t n) noexcept {
  if (n >= 8) return load_u64(p);
  if (n == 0) return 0;
  if (can_read_ahead(p, 8)) return load_u64_ahead(p) & (~std::uint64_t(0) >> (64 - 8 * n));
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

// The hash of a key of n <= 8 bytes from its prefix (load_prefix): two multiplications.
// The prefix is the whole key: there is no earlier state that a crafted prefix could erase.
inline std::uint64_t hash_short(std::uint64_t prefix, std::size_t n) noexcept {
  std::uint64_t h = fold_multiply(prefix ^ hash_k1, hash_k2 ^ (n * hash_k0));
  h = fold_multiply(h ^ hash_k0, hash_k2 ^ n);
  return h + (h == 0);
}

// Two 64-bit lanes, (a, b), take in a key of more than 8 bytes 16 bytes at a time: x, the
// block's first 8 bytes, into lane a, y, the next 8, into lane b:
//
//     a' = F_a(a ^ x) + b        b' = F_b(b ^ y) + a        (F_a, F_b: fold by a constant)
//
// No block can make the step forget: each lane's old value is added to the other lane
// whatever the products are, so a block chosen without knowing the state merges two
// states no more often than chance; a difference between two keys' lanes that a later
// block cancels at a product's input still lives on in the other lane; and a word of the
// block always changes the product it enters. The two products do not depend on each
// other: a step costs one multiplication's latency.
struct HashLanes {
  std::uint64_t a, b;
  void take(std::uint64_t x, std::uint64_t y) noexcept {
    const std::uint64_t next_a = fold_multiply(a ^ x, hash_m_a) + b;
    b = fold_multiply(b ^ y, hash_m_b) + a;
    a = next_a;
  }
  // Both lanes in one word, mixed by one more multiplication; never 0.
  [[nodiscard]] std::uint64_t finish() const noexcept {
    const std::uint64_t h = fold_multiply((a + b) ^ hash_end, hash_m_end);
    return h + (h == 0);
  }
};

// hash_long of 8 < n <= 16 bytes, from the key's first 8 bytes and its last 8: one block.
inline std::uint64_t hash_medium(std::uint64_t first, std::uint64_t last, std::size_t n) noexcept {
  HashLanes lanes{hash_lane_a ^ n, hash_lane_b};
  lanes.take(first, last);
  return lanes.finish();
}

// A key of n > 8 bytes: its 16-byte blocks, the last one ending at the key's end (it may
// overlap the one before, or, below 16 bytes, its two words overlap each other). The length
// starts lane a, so that keys of equal bytes and different lengths part.
inline std::uint64_t hash_long(const char* p, std::size_t n) noexcept {
  HashLanes lanes{hash_lane_a ^ n, hash_lane_b};
  for (std::size_t i = 0; i + 16 < n; i += 16) lanes.take(load_u64(p + i), load_u64(p + i + 8));
  lanes.take(load_u64(n < 16 ? p : p + n - 16), load_u64(p + n - 8));
  return lanes.finish();
}
}  // namespace detail

/// A 64-bit hash of `n` bytes; never 0 (the tables use 0 for an empty slot).
/// Keys of up to 8 bytes are one zero-padded load and two multiplications; longer keys
/// one multiplication's latency per 16 bytes, and one more.
// Always inlined: a word's hash is a few instructions, less than a call.
[[gnu::always_inline]] inline std::uint64_t hash_bytes(const void* data, std::size_t n) noexcept {
  const char* p = static_cast<const char*>(data);
  if (n <= 8) return detail::hash_short(detail::load_prefix(p, n), n);
  // Up to 16 bytes (most words past 8) inline too: the same value as hash_long, without a call.
  if (n <= 16) return detail::hash_medium(detail::load_u64(p), detail::load_u64(p + n - 8), n);
  return detail::hash_long(p, n);
}

/// A 64-bit mix of an integer key; never 0.
inline std::uint64_t hash_integer(std::uint64_t x) noexcept {
  std::uint64_t h = detail::fold_multiply(x ^ detail::hash_k0, detail::hash_k1);
  h = detail::fold_multiply(h ^ detail::hash_k2, detail::hash_k0);
  return h + (h == 0);
}

}  // namespace mapreduce
