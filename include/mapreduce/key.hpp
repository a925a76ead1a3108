#pragma once
// What a key type must offer: a view to emit it as, a hash, an order for ties, and a
// way to store it. std::string keys are emitted as std::string_view and copied by the
// engine; integers, enums and other trivially copyable types with a unique object
// representation are stored as they are.
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "mapreduce/codec.hpp"
#include "mapreduce/hash.hpp"

namespace mapreduce {

/// Key behaviour; specialize it (with the members below) to use another key type.
template <class K>
struct KeyTraits;

template <>
struct KeyTraits<std::string> {
  using view = std::string_view;         // what emit() takes and the reducer sees
  static constexpr bool trusted = true;  // the library's: no checks around it (codec_guard.hpp)
  [[gnu::always_inline]] static std::uint64_t hash(view k) noexcept { return hash_bytes(k.data(), k.size()); }
  [[gnu::always_inline]] static bool equal(view a, view b) noexcept {
    if (a.size() != b.size()) return false;
    const std::size_t n = a.size();
    // Short keys (most words) compared inline, with two loads that may overlap, all within
    // the keys' bytes: a call to memcmp costs more than the comparison.
    if (n >= 8 && n <= 16)
      return load8(a.data()) == load8(b.data()) && load8(a.data() + n - 8) == load8(b.data() + n - 8);
    if (n >= 4 && n < 8)
      return load4(a.data()) == load4(b.data()) && load4(a.data() + n - 4) == load4(b.data() + n - 4);
    return n == 0 || std::memcmp(a.data(), b.data(), n) == 0;
  }
  static bool less(view a, view b) noexcept { return a < b; }  // bytewise: char_traits<char> compares as unsigned
  static std::size_t size(view k) noexcept { return Codec<std::string>::size(k); }
  [[gnu::always_inline]] static char* write(char* out, view k) { return Codec<std::string>::write(out, k); }
  static view read(const char*& in) { return Codec<std::string>::read_view(in); }
  static std::string own(view k) { return std::string(k); }

 private:
  static std::uint64_t load8(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static std::uint32_t load4(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
};

// clang-format 14 takes the first && of this requires-clause for an rvalue reference:
// clang-format off
template <class K>
  requires(std::is_trivially_copyable_v<K> && std::has_unique_object_representations_v<K> &&
           !detail::is_address_like<K>)
struct KeyTraits<K> {
  // clang-format on
  using view = K;
  static constexpr bool trusted = detail::trusted_codec<K>;
  static std::uint64_t hash(const K& k) noexcept {
    if constexpr (sizeof(K) <= 8 && (std::is_integral_v<K> || std::is_enum_v<K>)) {
      return hash_integer(static_cast<std::uint64_t>(k));
    } else {
      return hash_bytes(&k, sizeof(K));
    }
  }
  static bool equal(const K& a, const K& b) noexcept { return std::memcmp(&a, &b, sizeof(K)) == 0; }
  static bool less(const K& a, const K& b) noexcept {
    if constexpr (std::is_integral_v<K> || std::is_enum_v<K>) {
      return a < b;
    } else {
      return std::memcmp(&a, &b, sizeof(K)) < 0;
    }
  }
  static constexpr std::size_t size(const K&) noexcept { return sizeof(K); }
  static char* write(char* out, const K& k) noexcept { return Codec<K>::write(out, k); }
  static K read(const char*& in) { return Codec<K>::read(in); }
  static K own(const K& k) noexcept { return k; }
};

/// Says that a job's keys are integers in [0, count): map workers then combine into an
/// array indexed by the key instead of a hash table (Phoenix++'s array container), with no
/// hashing or probing per emit. Only for integer keys and a combine operation; a key out
/// of range fails the task. `DenseKeys{}` (count 0) is the default: hashed keys.
///
///     pool.map_reduce<std::uint8_t, std::uint64_t>(input, byte_histogram, std::plus<>{},
///                                                  mapreduce::DenseKeys{256});
struct DenseKeys {
  std::size_t count = 0;
};

/// A type usable as a key.
template <class K>
concept Key = requires {
  typename KeyTraits<K>::view;
};

}  // namespace mapreduce
