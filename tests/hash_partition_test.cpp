#include <mapreduce/hash.hpp>
#include <mapreduce/key.hpp>
#include <mapreduce/partition.hpp>

#include <string>
#include <unordered_set>
#include <vector>

#include <catch2/catch.hpp>

TEST_CASE("hash_bytes is deterministic, never 0, and tells keys apart", "[hash]") {
  std::unordered_set<std::uint64_t> seen;
  std::vector<std::string> keys;
  for (int i = 0; i < 200000; ++i) keys.push_back("w" + std::to_string(i * 7919));
  keys.push_back("");
  keys.push_back(std::string(1, '\0'));
  keys.push_back(std::string(2, '\0'));
  keys.push_back(std::string(100, 'x'));
  keys.push_back(std::string(101, 'x'));
  for (const auto& k : keys) {
    const auto h = mapreduce::hash_bytes(k.data(), k.size());
    CHECK(h != 0);
    CHECK(h == mapreduce::hash_bytes(k.data(), k.size()));
    seen.insert(h);
  }
  CHECK(seen.size() == keys.size());
}

TEST_CASE("every byte of a key counts, at every length", "[hash]") {
  for (std::size_t n = 1; n <= 40; ++n) {
    std::string k(n, 'a');
    const auto base = mapreduce::hash_bytes(k.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string m = k;
      m[i] = 'b';
      CHECK(mapreduce::hash_bytes(m.data(), n) != base);
    }
  }
}

TEST_CASE("partition_of stays in range, is monotonic in the hash, and spreads keys evenly", "[partition]") {
  for (std::uint32_t parts : {1u, 2u, 7u, 64u, 1000u}) {
    std::vector<std::size_t> per(parts, 0);
    std::uint32_t last = 0;
    for (std::uint64_t i = 0; i < 100000; ++i) {
      const std::uint64_t h = i * (~std::uint64_t(0) / 100000);
      const auto p = mapreduce::partition_of(h, parts);
      REQUIRE(p < parts);
      CHECK(p >= last);
      last = p;
    }
    for (int i = 0; i < 100000; ++i) {
      const std::string k = "key" + std::to_string(i);
      ++per[mapreduce::partition_of(mapreduce::KeyTraits<std::string>::hash(k), parts)];
    }
    const double mean = 100000.0 / parts;
    for (auto n : per) {
      CHECK(static_cast<double>(n) > mean * 0.5);
      CHECK(static_cast<double>(n) < mean * 1.5);
    }
  }
}

TEST_CASE("integer keys hash by value and order numerically", "[hash]") {
  using T = mapreduce::KeyTraits<int>;
  CHECK(T::hash(5) == T::hash(5));
  CHECK(T::hash(5) != T::hash(6));
  CHECK(T::less(-3, 2));
  CHECK_FALSE(T::less(2, -3));
}
