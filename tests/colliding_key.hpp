#pragma once
// A key type whose hash is the same for every key, for the tests of hash collisions: every
// key collides in the map workers' tables, in the shuffle and in the reducers.
#include <cstdint>
#include <string>
#include <string_view>

#include <mapreduce/codec.hpp>
#include <mapreduce/key.hpp>

namespace test {
struct Colliding {
  std::string s;
};
}  // namespace test

template <>
struct mapreduce::KeyTraits<test::Colliding> {
  using view = std::string_view;
  static std::uint64_t hash(view) noexcept { return 0x5555000000000000ULL; }
  static bool equal(view a, view b) noexcept { return a == b; }
  static bool less(view a, view b) noexcept { return a < b; }
  static std::size_t size(view k) noexcept { return Codec<std::string>::size(k); }
  static char* write(char* out, view k) { return Codec<std::string>::write(out, k); }
  static view read(const char*& in) { return Codec<std::string>::read_view(in); }
  static test::Colliding own(view k) { return {std::string(k)}; }
};
