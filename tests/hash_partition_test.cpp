#include <mapreduce/hash.hpp>
#include <mapreduce/key.hpp>
#include <mapreduce/partition.hpp>
#include <mapreduce/pool.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <catch2/catch.hpp>

#include "colliding_key.hpp"

namespace {

// The long-key hash as it was before its steps were protected, to show that the crafted
// keys below are the ones that broke it: a 16-byte block whose first 8 bytes equal
// old_k1 made the product 0, and every byte before it was forgotten.
constexpr std::uint64_t old_k0 = 0x9e6c63d0676a9a99ULL;
constexpr std::uint64_t old_k1 = 0xc2b2ae3d27d4eb4fULL;
constexpr std::uint64_t old_k2 = 0x85ebca77c2b2ae63ULL;

std::uint64_t load(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::uint64_t old_hash_long(const char* p, std::size_t n) {
  using mapreduce::detail::fold_multiply;
  std::uint64_t a, b;
  if (n <= 16) {
    a = load(p);
    b = load(p + n - 8);
  } else {
    std::uint64_t h = old_k0 ^ n;
    std::size_t i = 0;
    for (; i + 16 < n; i += 16) h = fold_multiply(load(p + i) ^ old_k1, load(p + i + 8) ^ h);
    a = load(p + n - 16) ^ h;
    b = load(p + n - 8);
  }
  std::uint64_t h = fold_multiply(a ^ old_k1, b ^ old_k2 ^ (n * old_k0));
  h = fold_multiply(h ^ old_k0, old_k2 ^ n);
  return h + (h == 0);
}

void put(std::string& key, std::size_t at, std::uint64_t word) { std::memcpy(key.data() + at, &word, 8); }

// `count` keys of `n` bytes: a fixed filler, the 8 bytes at `fixed_at` set to `word`, and
// the key's number spread over the bytes `vary` lists (one byte each, as a base-256 digit).
std::vector<std::string> crafted(std::size_t count, std::size_t n, std::size_t fixed_at, std::uint64_t word,
                                 const std::vector<std::size_t>& vary) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < count; ++i) {
    std::string k(n, 'q');
    put(k, fixed_at, word);
    std::size_t rest = i;
    for (const std::size_t at : vary) {
      k[at] = static_cast<char>(rest % 256);
      rest /= 256;
    }
    keys.push_back(std::move(k));
  }
  return keys;
}

std::vector<std::size_t> bytes_from(std::size_t first, std::size_t count) {
  std::vector<std::size_t> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = first + i;
  return v;
}

template <class Hash>
std::size_t distinct_hashes(const std::vector<std::string>& keys, Hash hash) {
  std::unordered_set<std::uint64_t> seen;
  for (const auto& k : keys) seen.insert(hash(k));
  return seen.size();
}

// What the tables and the partitions see of the keys' hashes: the low 16 bits (a table of
// 65536 slots) and partition_of(hash, 64). Distinct keys must fill both about evenly.
void check_spread(const std::vector<std::string>& keys) {
  std::vector<std::uint32_t> slot(65536, 0), part(64, 0);
  for (const auto& k : keys) {
    const auto h = mapreduce::hash_bytes(k.data(), k.size());
    ++slot[h & 65535];
    ++part[mapreduce::partition_of(h, 64)];
  }
  // 100 k keys in 65536 slots: about 1.5 each, and 9 or more in a slot has a chance of
  // about 1e-5 per slot for a random hash; 20 would be a cluster.
  CHECK(*std::max_element(slot.begin(), slot.end()) < 20);
  const double mean = static_cast<double>(keys.size()) / 64;
  for (const auto n : part) {
    CHECK(n > mean * 0.8);
    CHECK(n < mean * 1.2);
  }
}

auto new_hash = [](const std::string& k) { return mapreduce::hash_bytes(k.data(), k.size()); };
auto old_hash = [](const std::string& k) { return old_hash_long(k.data(), k.size()); };

}  // namespace

TEST_CASE("hash_bytes is deterministic, never 0, and tells keys apart", "[hash]") {
  std::unordered_set<std::uint64_t> seen;
  std::vector<std::string> keys;
  for (int i = 0; i < 200000; ++i) keys.push_back(std::string("w").append(std::to_string(i * 7919)));
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
      const std::string k = std::string("key").append(std::to_string(i));
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

TEST_CASE("keys crafted against the old long-key step hash apart", "[hash]") {
  constexpr std::size_t count = 100000;
  struct Craft {
    const char* what;
    std::vector<std::string> keys;
  };
  const Craft crafts[] = {
      // 48 bytes (lines, log fields): the block at 16 starts with old_k1, bytes 0 to 15 vary.
      {"48 bytes, block 16 begins with k1", crafted(count, 48, 16, old_k1, bytes_from(0, 3))},
      // 33 bytes: two blocks, then a 1-byte tail (taken with the 15 bytes before it).
      {"33 bytes, block 16 begins with k1", crafted(count, 33, 16, old_k1, bytes_from(0, 3))},
      {"100 bytes, block 80 begins with k1", crafted(count, 100, 80, old_k1, {3, 30, 60})},
      // 9 to 16 bytes: the first word is a multiplicand of its own, the last one varies.
      {"16 bytes, first word k1", crafted(count, 16, 0, old_k1, bytes_from(8, 3))},
      // All ones as a multiplicand folds to all ones, whatever the other one holds.
      {"48 bytes, block 16 begins with ~k1", crafted(count, 48, 16, ~old_k1, bytes_from(0, 3))},
      // The last 8 bytes as the final multiplicand, made 0: everything before is lost.
      {"48 bytes, last word k2 ^ 48 k0", crafted(count, 48, 40, old_k2 ^ (48 * old_k0), bytes_from(0, 3))},
  };
  for (const auto& c : crafts) {
    INFO(c.what);
    REQUIRE(std::unordered_set<std::string>(c.keys.begin(), c.keys.end()).size() == count);
    CHECK(distinct_hashes(c.keys, old_hash) < 300);  // the old hash collapsed them
    CHECK(distinct_hashes(c.keys, new_hash) == count);
    check_spread(c.keys);
  }
}

TEST_CASE("keys crafted the same way against the new constants hash apart too", "[hash]") {
  using namespace mapreduce::detail;
  constexpr std::size_t count = 100000;
  // Every word that is XORed with something before a multiplication, made equal to it,
  // to its complement, or off by the top or the bottom bit; and the multipliers themselves.
  const std::uint64_t lane_a48 = hash_lane_a ^ 48;
  std::vector<std::uint64_t> words;
  for (const std::uint64_t c : {lane_a48, hash_lane_b, hash_m_a, hash_m_b, hash_m_end, hash_end}) {
    for (const std::uint64_t flip : {std::uint64_t(0), ~std::uint64_t(0), std::uint64_t(1), std::uint64_t(1) << 63})
      words.push_back(c ^ flip);
  }
  for (const std::uint64_t w : words) {
    for (const std::size_t at : {0, 8, 16, 24, 32, 40}) {
      INFO("word " << std::hex << w << std::dec << " at " << at);
      const auto vary = at >= 8 ? bytes_from(0, 3) : bytes_from(8, 3);  // before the word, if anything is
      const auto keys = crafted(count / 10, 48, at, w, vary);
      CHECK(distinct_hashes(keys, new_hash) == keys.size());
    }
  }
  // Every block after the first made of the lanes' starting values, the first block
  // varying; and 9 to 16-byte keys whose first word is lane a's start.
  {
    std::vector<std::string> keys = crafted(count, 64, 16, hash_lane_a ^ 64, bytes_from(0, 3));
    for (auto& k : keys) {
      for (const std::size_t at : {16, 32, 48}) {
        put(k, at, hash_lane_a ^ 64);
        put(k, at + 8, hash_lane_b);
      }
    }
    CHECK(distinct_hashes(keys, new_hash) == count);
    check_spread(keys);
  }
  for (std::size_t n = 9; n <= 16; ++n) {
    INFO(n << " bytes");
    const std::size_t varied = std::min<std::size_t>(n - 8, 3);
    const auto keys = crafted(std::min<std::size_t>(count, std::size_t(1) << (8 * varied)), n, 0, hash_lane_a ^ n,
                              bytes_from(8, varied));
    CHECK(distinct_hashes(keys, new_hash) == keys.size());
  }
}

TEST_CASE("flipping the same bits in several blocks never cancels out", "[hash]") {
  // Each of 16 words (128 bytes, 8 blocks) has one bit flipped or not, by the bits of the
  // key's number: 65536 keys. A step whose lanes took a word in by XOR or addition alone
  // would let a flip in one block be undone by the same flip in a later one (the top bit
  // adds and XORs alike); then whole classes of these keys would share a hash.
  for (const int bit : {63, 0, 31}) {
    INFO("bit " << bit);
    std::vector<std::string> keys;
    for (std::uint32_t i = 0; i < 65536; ++i) {
      std::string k(128, 'z');
      for (std::size_t w = 0; w < 16; ++w) {
        if ((i >> w) & 1) put(k, 8 * w, load(k.data() + 8 * w) ^ (std::uint64_t(1) << bit));
      }
      keys.push_back(std::move(k));
    }
    CHECK(distinct_hashes(keys, new_hash) == keys.size());
  }
}

TEST_CASE("a flipped input bit flips each hash bit about half the time", "[hash]") {
  // Seeded keys of each length; for every input bit and every output bit, how often
  // flipping the first flips the second. A hash whose some output bits ignore some input
  // bits (the table's slot is the low bits, the partition the high ones) shows up here.
  std::mt19937_64 rng(42);
  constexpr int samples = 400;
  double total = 0;
  std::size_t cells = 0;
  for (const std::size_t n : {2, 3, 5, 8, 9, 12, 16, 17, 24, 31, 48, 64, 100}) {
    std::vector<std::uint32_t> flips(n * 8 * 64, 0);
    std::string k(n, '\0');
    for (int s = 0; s < samples; ++s) {
      for (auto& c : k) c = static_cast<char>(rng());
      const auto base = mapreduce::hash_bytes(k.data(), n);
      for (std::size_t bit = 0; bit < n * 8; ++bit) {
        k[bit / 8] = static_cast<char>(k[bit / 8] ^ (1 << (bit % 8)));
        const auto d = base ^ mapreduce::hash_bytes(k.data(), n);
        k[bit / 8] = static_cast<char>(k[bit / 8] ^ (1 << (bit % 8)));
        for (int o = 0; o < 64; ++o)
          flips[bit * 64 + static_cast<std::size_t>(o)] += static_cast<unsigned>((d >> o) & 1);
      }
    }
    const auto [lo, hi] = std::minmax_element(flips.begin(), flips.end());
    INFO(n << " bytes: each of " << flips.size() << " cells flipped " << *lo << " to " << *hi << " times in "
           << samples);
    // 400 fair coins: 200 +- 10; a cell outside 130 to 270 (7 sigma) is a bias, not chance.
    CHECK(*lo > 130);
    CHECK(*hi < 270);
    for (const auto f : flips) total += f;
    cells += flips.size();
  }
  const double mean = total / static_cast<double>(cells) / samples;
  CHECK(mean > 0.49);
  CHECK(mean < 0.51);
}

using test::Colliding;

TEST_CASE("a combining job whose keys all share one hash still counts exactly", "[hash][pool]") {
  // 2000 distinct keys of 9 to 40 bytes (the map side hashes string keys of up to 8 bytes
  // itself, so only longer ones reach KeyTraits::hash), 40000 emits, skewed.
  std::mt19937_64 rng(9);
  std::vector<std::string> vocab;
  for (int i = 0; i < 2000; ++i) {
    std::string k = std::string("collide-").append(std::to_string(i));
    while (k.size() < 9 + rng() % 32) k += static_cast<char>('a' + rng() % 26);
    vocab.push_back(k);
  }
  std::vector<std::uint32_t> items(40000);
  for (auto& x : items) x = static_cast<std::uint32_t>(rng() % 2000 * (rng() % 4) / 3);
  std::map<std::string, std::uint64_t> expected;
  for (const auto x : items) expected[vocab[x]] += x % 7 + 1;
  for (const unsigned workers : {1u, 2u}) {
    for (const unsigned partitions : {1u, 5u}) {
      INFO(workers << " workers, " << partitions << " partitions");
      mapreduce::Pool pool({.workers = workers, .partitions = partitions});
      const auto result = pool.map_reduce<Colliding, std::uint64_t>(
          items, [&](std::uint32_t x, auto& emit) { emit(vocab[x], x % 7 + 1); }, std::plus<>{});
      std::map<std::string, std::uint64_t> got;
      for (const auto& [k, v] : result) got[k.s] += v;
      CHECK(result.size() == expected.size());
      CHECK(got == expected);
      // Equal hashes are ordered by key: the output order stays deterministic.
      CHECK(std::is_sorted(result.begin(), result.end(),
                           [](const auto& a, const auto& b) { return a.first.s < b.first.s; }));
    }
  }
}
