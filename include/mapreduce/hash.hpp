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
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC and Clang: one MUL instruction on x86-64
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline constexpr std::uint64_t hash_k0 = 0x9e6c63d0676a9a99ULL;
inline constexpr std::uint64_t hash_k1 = 0xc2b2ae3d27d4eb4fULL;
inline constexpr std::uint64_t hash_k2 = 0x85ebca77c2b2ae63ULL;
}  // namespace detail

namespace detail {
// The first min(n, 8) bytes of p, zero-padded into a 64-bit word. One load when the 8
// bytes stay inside p's page; string keys of up to 8 bytes (most words) are this word.
inline std::uint64_t load_prefix(const char* p, std::size_t n) noexcept {
  if (n >= 8) return load_u64(p);
  if (n == 0) return 0;
  if (can_read_ahead(p, 8)) return load_u64_ahead(p) & (~std::uint64_t(0) >> (64 - 8 * n));
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

// The hash of a key of n <= 8 bytes from its prefix (load_prefix): two multiplications.
inline std::uint64_t hash_short(std::uint64_t prefix, std::size_t n) noexcept {
  std::uint64_t h = fold_multiply(prefix ^ hash_k1, hash_k2 ^ (n * hash_k0));
  h = fold_multiply(h ^ hash_k0, hash_k2 ^ n);
  return h + (h == 0);
}
}  // namespace detail

/// A 64-bit hash of `n` bytes; never 0 (the tables use 0 for an empty slot).
/// Keys of up to 8 bytes are one zero-padded load and two multiplications.
inline std::uint64_t hash_bytes(const void* data, std::size_t n) noexcept {
  using namespace detail;
  const char* p = static_cast<const char*>(data);
  if (n <= 8) return hash_short(load_prefix(p, n), n);
  std::uint64_t a, b;
  if (n <= 16) {
    a = load_u64(p);
    b = load_u64(p + n - 8);
  } else {
    std::uint64_t h = hash_k0 ^ n;
    std::size_t i = 0;
    for (; i + 16 < n; i += 16) {
      h = fold_multiply(load_u64(p + i) ^ hash_k1, load_u64(p + i + 8) ^ h);
    }
    a = load_u64(p + n - 16) ^ h;
    b = load_u64(p + n - 8);
  }
  std::uint64_t h = fold_multiply(a ^ hash_k1, b ^ hash_k2 ^ (n * hash_k0));
  h = fold_multiply(h ^ hash_k0, hash_k2 ^ n);
  return h + (h == 0);
}

/// A 64-bit mix of an integer key; never 0.
inline std::uint64_t hash_integer(std::uint64_t x) noexcept {
  std::uint64_t h = detail::fold_multiply(x ^ detail::hash_k0, detail::hash_k1);
  h = detail::fold_multiply(h ^ detail::hash_k2, detail::hash_k0);
  return h + (h == 0);
}

}  // namespace mapreduce
