// CombineTable (detail/table.hpp): the private table each worker combines into. String keys
// of up to 15 bytes live in the map side's slots, longer ones in its arena; both sides must
// combine exactly what a std::map would, whatever bytes the keys hold, and read no byte
// past a key that ends where its page does.
#include <mapreduce/detail/map_buffer.hpp>
#include <mapreduce/detail/table.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using mapreduce::detail::CombineTable;

// Keys that differ only where a zero-padded layout could hide it: trailing NULs, lengths on
// either side of the 8- and 15-byte boundaries, bytes of 0x80 and above.
std::vector<std::string> awkward_keys() {
  std::vector<std::string> keys{"",  std::string(1, '\0'),  std::string(2, '\0'),
                                "a", std::string("a\0", 2), std::string("a\0\0", 3)};
  for (std::size_t n : {7u, 8u, 9u, 14u, 15u, 16u, 17u, 31u, 32u, 33u, 100u}) {
    keys.emplace_back(n, 'x');
    std::string with_nul(n, 'x');
    with_nul.back() = '\0';
    keys.push_back(with_nul);
    keys.emplace_back(n, static_cast<char>(0xff));
  }
  return keys;
}

template <bool CopyKeys>
std::map<std::string, std::uint64_t> counted(const std::vector<std::string>& emits, std::size_t expected_keys) {
  CombineTable<std::string, std::uint64_t, CopyKeys> table(expected_keys);
  auto plus = [](std::uint64_t a, std::uint64_t b) { return a + b; };
  for (const auto& k : emits) table.add(mapreduce::KeyTraits<std::string>::hash(k), k, 1, plus);
  std::map<std::string, std::uint64_t> out;
  table.for_each([&](const auto& slot) {
    CHECK(slot.hash == mapreduce::KeyTraits<std::string>::hash(slot.key()));
    CHECK(out.emplace(std::string(slot.key()), slot.value).second);  // each key once
  });
  CHECK(out.size() == table.size());
  return out;
}

}  // namespace

TEST_CASE("string keys combine exactly, in the slot or in the arena, on both sides", "[table]") {
  const auto keys = awkward_keys();
  std::vector<std::string> emits;
  std::map<std::string, std::uint64_t> expected;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t r = 0; r <= i % 5; ++r) {
      emits.push_back(keys[i]);
      ++expected[keys[i]];
    }
  }
  CHECK(expected.size() == keys.size());
  CHECK(counted<true>(emits, 4) == expected);  // grows several times
  CHECK(counted<false>(emits, 4) == expected);
}

TEST_CASE("a table of 200000 random keys of 0 to 40 bytes equals std::map", "[table]") {
  std::mt19937_64 rng(31);
  std::vector<std::string> pool;
  for (int i = 0; i < 60000; ++i) {
    std::string k(rng() % 41, '\0');
    for (char& c : k) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() % 256);  // many NULs
    pool.push_back(k);
  }
  std::vector<std::string> emits;
  std::map<std::string, std::uint64_t> expected;
  for (int i = 0; i < 200000; ++i) {
    const std::string& k = pool[rng() % pool.size()];
    emits.push_back(k);
    ++expected[k];
  }
  CHECK(counted<true>(emits, 1024) == expected);
}

TEST_CASE("a map-side slot reads back its key, and its prefix is the key's first 8 bytes", "[table]") {
  CombineTable<std::string, std::uint64_t, true> table;
  auto keep = [](std::uint64_t a, std::uint64_t) { return a; };
  for (const auto& k : awkward_keys()) {
    table.add(mapreduce::KeyTraits<std::string>::hash(k), k, k.size(), keep);
  }
  std::size_t seen = 0;
  table.for_each([&](const auto& slot) {
    const std::string_view key = slot.key();
    CHECK(slot.value == key.size());
    CHECK(slot.prefix() == mapreduce::detail::load_prefix(key.data(), key.size()));
    ++seen;
  });
  CHECK(seen == awkward_keys().size());
  CHECK(sizeof(CombineTable<std::string, std::uint64_t, true>::Slot) == 32);  // two to a cache line
}

TEST_CASE("keys that end where a page ends, before an unreadable one, are read in bounds", "[table]") {
  // Two pages, the second unreadable: a key at the end of the first may not be read past.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  REQUIRE(::mprotect(static_cast<char*>(mem) + page, page, PROT_NONE) == 0);
  char* end = static_cast<char*>(mem) + page;
  std::map<std::string, std::uint64_t> expected;
  {
    mapreduce::detail::MapBuffer<std::string, std::uint64_t> buffer(
        1, [](const void*, const std::uint64_t& a, const std::uint64_t& b) { return a + b; }, nullptr, true);
    for (std::size_t n = 0; n <= 40; ++n) {
      std::memset(end - n, static_cast<int>('a' + n % 26), n);
      const std::string_view key(end - n, n);
      buffer.add(key, 1);
      buffer.add(key, 2);
      expected[std::string(key)] += 3;
    }
    buffer.drain();
    std::map<std::string, std::uint64_t> got;
    buffer.combined().for_each([&](const auto& slot) { got[std::string(slot.key())] += slot.value; });
    CHECK(got == expected);
  }
  ::munmap(mem, 2 * page);
}

TEST_CASE("emits of random keys through a MapBuffer equal std::map, each slot with its key's hash", "[table]") {
  // Keys inside one large buffer, as a mapper's text: the emit's fast path loads 16 bytes at
  // once and masks them (no key here ends where a page does, but its neighbours' bytes do
  // follow it, and must not count).
  std::mt19937_64 rng(41);
  std::string text(1 << 20, '\0');
  for (char& c : text) c = static_cast<char>(rng() % 3 == 0 ? 0 : rng() % 256);
  std::vector<std::string_view> keys;
  for (int i = 0; i < 50000; ++i) {
    const std::size_t n = rng() % 41;
    keys.push_back(std::string_view(text).substr(rng() % (text.size() - 64), n));
  }
  mapreduce::detail::MapBuffer<std::string, std::uint64_t> buffer(
      1, [](const void*, const std::uint64_t& a, const std::uint64_t& b) { return a + b; }, nullptr, true);
  std::map<std::string, std::uint64_t> expected;
  for (int i = 0; i < 300000; ++i) {
    const std::string_view key = keys[rng() % keys.size()];
    buffer.add(key, 1);
    ++expected[std::string(key)];
  }
  buffer.drain();
  std::map<std::string, std::uint64_t> got;
  buffer.combined().for_each([&](const auto& slot) {
    CHECK(slot.hash == mapreduce::KeyTraits<std::string>::hash(slot.key()));
    CHECK(got.emplace(std::string(slot.key()), slot.value).second);
  });
  CHECK(got == expected);
}

TEST_CASE("a MapBuffer folds each key's values in emit order, across the prefetch ring's halves", "[table]") {
  // An order-sensitive combine (a * 31 + b): any value folded out of turn changes the result.
  // Keys of 0 to 40 bytes take the three ways into the table (two words in the ring, a copy
  // in the ring, straight in past 32 bytes), and drains fall at random points, as task ends do.
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i)
    keys.push_back(std::string(rng() % 41, static_cast<char>('a' + i % 26)) + std::to_string(i));
  auto fold = [](const void*, const std::uint64_t& a, const std::uint64_t& b) { return a * 31 + b; };
  mapreduce::detail::MapBuffer<std::string, std::uint64_t> buffer(1, fold, nullptr);
  std::map<std::string, std::uint64_t> expected;
  for (std::uint64_t i = 0; i < 100000; ++i) {
    const std::string& key = keys[rng() % (rng() % 2 == 0 ? 8 : keys.size())];  // a few keys often
    buffer.add(key, i);
    auto [it, fresh] = expected.emplace(key, i);
    if (!fresh) it->second = fold(nullptr, it->second, i);
    if (rng() % 5000 == 0) buffer.drain();
  }
  buffer.drain();
  std::map<std::string, std::uint64_t> got;
  buffer.combined().for_each([&](const auto& slot) { got.emplace(std::string(slot.key()), slot.value); });
  CHECK(got == expected);

  mapreduce::detail::MapBuffer<std::uint32_t, std::uint64_t> integers(1, fold, nullptr);
  std::map<std::uint32_t, std::uint64_t> expected_integers;
  for (std::uint64_t i = 0; i < 50000; ++i) {
    const auto key = static_cast<std::uint32_t>(rng() % 500);
    integers.add(key, i);
    auto [it, fresh] = expected_integers.emplace(key, i);
    if (!fresh) it->second = fold(nullptr, it->second, i);
  }
  integers.drain();
  std::map<std::uint32_t, std::uint64_t> got_integers;
  integers.combined().for_each([&](const auto& slot) { got_integers.emplace(slot.key(), slot.value); });
  CHECK(got_integers == expected_integers);
}
