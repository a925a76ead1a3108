#pragma once
// How keys, values and results travel through shared memory.
//
// Every type that crosses a process boundary has a Codec: `size` says how many bytes
// `write` will use, `write` stores the value and returns the end, `read` loads it and
// advances the cursor. Trivially copyable types, std::string, std::vector and std::pair of
// encodable types are provided. For your own type, specialize mapreduce::Codec:
//
//     struct Point { std::string name; double x, y; };
//     template <> struct mapreduce::Codec<Point> {
//       static std::size_t size(const Point& p) { return Codec<std::string>::size(p.name) + 16; }
//       static char* write(char* out, const Point& p) {
//         out = Codec<std::string>::write(out, p.name);
//         out = Codec<double>::write(out, p.x);
//         return Codec<double>::write(out, p.y);
//       }
//       static Point read(const char*& in) {
//         Point p;
//         p.name = Codec<std::string>::read(in);
//         p.x = Codec<double>::read(in);
//         p.y = Codec<double>::read(in);
//         return p;
//       }
//     };
#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mapreduce/error.hpp"

namespace mapreduce {

/// Serialization of T into shared memory. Specialize it for your own types (see above).
template <class T>
struct Codec;

/// A type with a usable Codec.
template <class T>
concept Encodable = requires(const T& v, char* out, const char*& in) {
  { Codec<T>::size(v) } -> std::convertible_to<std::size_t>;
  { Codec<T>::write(out, v) } -> std::same_as<char*>;
  { Codec<T>::read(in) } -> std::convertible_to<T>;
};

namespace detail {
// Pointers and views are trivially copyable, but their bytes are an address: meaningless in
// another process. They have no Codec.
template <class T>
inline constexpr bool is_address_like = std::is_pointer_v<T> || std::is_member_pointer_v<T>;
template <class C, class Tr>
inline constexpr bool is_address_like<std::basic_string_view<C, Tr>> = true;

// Whether Codec<T> is the library's own, built only of the library's own: its size(), write()
// and read() agree, so the engine skips the checks it makes around a user's Codec
// (codec_guard.hpp). The library's Codecs say so with a `trusted` member.
template <class T>
inline constexpr bool trusted_codec = requires {
  requires Codec<T>::trusted;
};

// While the engine decodes bytes with a Codec that is not trusted, where those bytes end;
// null otherwise. The library's Codecs, called from inside a user's read(), refuse to read
// past it: a length read from bytes that never were a length then fails the task instead of
// reading gigabytes past the segment. One thread-local load per read, and none on the
// engine's own paths, which check lengths against their buffer themselves.
constinit inline thread_local const char* read_end = nullptr;

// What the library's Codecs throw at read_end; the engine catches it and names the Codec.
class ReadPastEnd : public JobError {
 public:
  using JobError::JobError;
};

// Throws ReadPastEnd when `n` bytes at `in` would pass read_end.
inline void check_read(const char* in, std::size_t n) {
  const char* const end = read_end;
  if (end != nullptr && (in > end || n > static_cast<std::size_t>(end - in))) [[unlikely]] {
    throw ReadPastEnd("a read past the end of the bytes written");
  }
}
}  // namespace detail

/// Trivially copyable types travel as their bytes (not pointers and views: see above).
template <class T>
  requires(std::is_trivially_copyable_v<T> && !detail::is_address_like<T>)
struct Codec<T> {
  static constexpr bool trusted = true;
  static constexpr std::size_t size(const T&) noexcept { return sizeof(T); }
  static char* write(char* out, const T& v) noexcept {
    std::memcpy(out, &v, sizeof(T));
    return out + sizeof(T);
  }
  static T read(const char*& in) {
    detail::check_read(in, sizeof(T));
    T v;
    std::memcpy(&v, in, sizeof(T));
    in += sizeof(T);
    return v;
  }
};

/// Strings travel as a 32-bit length and their bytes; `read_view` reads one in place.
template <>
struct Codec<std::string> {
  static constexpr bool trusted = true;
  static std::size_t size(std::string_view s) noexcept { return 4 + s.size(); }
  [[gnu::always_inline]] static char* write(char* out, std::string_view s) {
    if (s.size() > UINT32_MAX) [[unlikely]]
      throw Error("a string of over 4 GiB cannot be a key or value");
    const auto n = static_cast<std::uint32_t>(s.size());
    std::memcpy(out, &n, 4);
    if (n != 0) std::memcpy(out + 4, s.data(), n);  // an empty view may be null
    return out + 4 + n;
  }
  static std::string_view read_view(const char*& in) {
    detail::check_read(in, 4);
    std::uint32_t n;
    std::memcpy(&n, in, 4);
    detail::check_read(in + 4, n);
    std::string_view s(in + 4, n);
    in += 4 + n;
    return s;
  }
  static std::string read(const char*& in) { return std::string(read_view(in)); }
};

/// Vectors travel as a 64-bit count and their elements.
template <Encodable T>
struct Codec<std::vector<T>> {
  static constexpr bool trusted = detail::trusted_codec<T>;
  static std::size_t size(const std::vector<T>& v) {
    if constexpr (std::is_trivially_copyable_v<T>) {
      return 8 + v.size() * sizeof(T);
    } else {
      std::size_t n = 8;
      for (const auto& x : v) n += Codec<T>::size(x);
      return n;
    }
  }
  static char* write(char* out, const std::vector<T>& v) {
    const std::uint64_t n = v.size();
    std::memcpy(out, &n, 8);
    out += 8;
    if constexpr (std::is_trivially_copyable_v<T>) {
      if (n) std::memcpy(out, v.data(), n * sizeof(T));
      return out + n * sizeof(T);
    } else {
      for (const auto& x : v) out = Codec<T>::write(out, x);
      return out;
    }
  }
  static std::vector<T> read(const char*& in) {
    detail::check_read(in, 8);
    std::uint64_t n;
    std::memcpy(&n, in, 8);
    in += 8;
    std::vector<T> v;
    if constexpr (std::is_trivially_copyable_v<T>) {
      if (detail::read_end != nullptr && n > static_cast<std::uint64_t>(detail::read_end - in) / sizeof(T)) {
        throw detail::ReadPastEnd("a read past the end of the bytes written");
      }
      v.resize(n);
      if (n) std::memcpy(v.data(), in, n * sizeof(T));
      in += n * sizeof(T);
    } else {
      // Under a read_end, a count read from garbage must not reserve gigabytes: each element
      // takes a byte at least, so the bytes left bound what is worth reserving.
      v.reserve(detail::read_end != nullptr ? std::min(n, static_cast<std::uint64_t>(detail::read_end - in)) : n);
      for (std::uint64_t i = 0; i < n; ++i) v.push_back(Codec<T>::read(in));
    }
    return v;
  }
};

/// Pairs travel as their two members (std::pair is not trivially copyable).
template <Encodable A, Encodable B>
struct Codec<std::pair<A, B>> {
  static constexpr bool trusted = detail::trusted_codec<A> && detail::trusted_codec<B>;
  static std::size_t size(const std::pair<A, B>& p) { return Codec<A>::size(p.first) + Codec<B>::size(p.second); }
  static char* write(char* out, const std::pair<A, B>& p) {
    return Codec<B>::write(Codec<A>::write(out, p.first), p.second);
  }
  static std::pair<A, B> read(const char*& in) {
    A a = Codec<A>::read(in);
    B b = Codec<B>::read(in);
    return {std::move(a), std::move(b)};
  }
};

}  // namespace mapreduce
