// Jobs in key order (Pool::sorted, detail/key_ranges.hpp): the key ranges cut from a sample,
// the sort of a reducer's output, and whole jobs against std::sort of a reference made here,
// for several numbers of workers and partitions, with skew and with no input.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/detail/key_ranges.hpp>
#include <mapreduce/mapreduce.hpp>

#include "colliding_key.hpp"
#include "support.hpp"

namespace {

std::string random_key(std::mt19937_64& rng) {
  // Short keys mostly, some long, bytes of every value: NULs, 0x80 and above, shared prefixes.
  const std::size_t len = rng() % 10 == 0 ? rng() % 64 : rng() % 6;
  std::string k(len, '\0');
  for (char& c : k) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 3);
  return k;
}

std::vector<std::string> random_keys(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(random_key(rng));
  return keys;
}

}  // namespace

TEST_CASE("KeyRanges cuts a sample at its quantiles, and a key goes to the range it falls in") {
  using Ranges = mapreduce::detail::KeyRanges<std::string>;
  std::vector<std::string> owned;
  for (int i = 0; i < 1000; ++i) owned.push_back(fmt::format("k{:04}", i));
  std::vector<std::string_view> sample(owned.begin(), owned.end());
  std::shuffle(sample.begin(), sample.end(), std::mt19937_64(1));
  const Ranges r = Ranges::from_sample(sample, 4);
  REQUIRE(r.bounds() == std::vector<std::string_view>{"k0250", "k0500", "k0750"});
  CHECK(r.partition("") == 0);
  CHECK(r.partition("k0249") == 0);
  CHECK(r.partition("k0250") == 1);  // a bound starts its range
  CHECK(r.partition("k07499") == 2);
  CHECK(r.partition("k0750") == 3);
  CHECK(r.partition("\xff") == 3);

  SECTION("one partition, or no sample: everything in partition 0") {
    CHECK(Ranges::from_sample(sample, 1).partition("zzz") == 0);
    CHECK(Ranges::from_sample({}, 8).partition("zzz") == 0);
  }
  SECTION("a key that is most of the sample repeats as a bound: the ranges between are empty") {
    std::vector<std::string_view> skewed(900, "m");
    skewed.insert(skewed.end(), sample.begin(), sample.begin() + 100);
    const Ranges s = Ranges::from_sample(skewed, 8);
    const std::uint32_t p = s.partition("m");
    CHECK(std::count(s.bounds().begin(), s.bounds().end(), "m") >= 5);
    CHECK(s.partition("l") < p);
    CHECK(s.partition("n") >= p);
  }
  SECTION("integer keys") {
    std::vector<std::int64_t> ints;
    for (std::int64_t i = -500; i < 500; ++i) ints.push_back(i);
    const auto ir = mapreduce::detail::KeyRanges<std::int64_t>::from_sample(ints, 2);
    CHECK(ir.bounds() == std::vector<std::int64_t>{0});
    CHECK(ir.partition(-1) == 0);
    CHECK(ir.partition(0) == 1);
  }
}

TEST_CASE("KeyRanges: the search by prefix agrees with the search by key, for keys of any bytes") {
  using Ranges = mapreduce::detail::KeyRanges<std::string>;
  const std::vector<std::string> sample_keys = random_keys(23, 2000), probes = random_keys(29, 20000);
  const Ranges r = Ranges::from_sample(std::vector<std::string_view>(sample_keys.begin(), sample_keys.end()), 13);
  for (const auto& k : probes) {
    CAPTURE(k);
    const std::uint32_t p = r.partition(k);
    REQUIRE(p == r.partition(k, mapreduce::detail::order_prefix(k, 0)));
    // The definition: the bounds at or below the key.
    REQUIRE(p == static_cast<std::uint32_t>(
                     std::upper_bound(r.bounds().begin(), r.bounds().end(), std::string_view(k)) - r.bounds().begin()));
  }
}

TEST_CASE("sort_in_key_order puts distinct keys in bytewise order") {
  std::vector<std::string> keys = random_keys(7, 20000);
  // Long shared prefixes, past the radix sort's depth, and keys that differ only by length.
  for (int i = 0; i < 300; ++i) keys.push_back(std::string(100, 'p') + std::to_string(i));
  keys.push_back(std::string("a\0", 2));
  keys.push_back("a");
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::pair<std::string_view, int>> items;
  for (const auto& k : keys) items.emplace_back(k, 0);
  std::shuffle(items.begin(), items.end(), std::mt19937_64(3));
  mapreduce::detail::sort_in_key_order<std::string>(items, [](const auto& p) { return p.first; });
  std::vector<std::string> got;
  for (const auto& [k, v] : items) got.emplace_back(k);
  CHECK(got == keys);
}

TEST_CASE("a sorted job gives every key in order, for any number of workers and partitions") {
  const std::vector<std::string> keys = random_keys(11, 30000);
  std::map<std::string, std::uint64_t> reference;
  for (const auto& k : keys) ++reference[k];
  const std::vector<std::pair<std::string, std::uint64_t>> want(reference.begin(), reference.end());
  // The same pairs with integer keys, negative ones too.
  std::vector<std::int64_t> ints;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 30000; ++i) ints.push_back(static_cast<std::int64_t>(rng() % 20000) - 10000);
  std::map<std::int64_t, std::uint64_t> int_reference;
  for (const auto k : ints) ++int_reference[k];
  const std::vector<std::pair<std::int64_t, std::uint64_t>> int_want(int_reference.begin(), int_reference.end());

  for (const unsigned workers : {1u, 2u, 3u, 8u}) {
    for (const unsigned partitions : {1u, 7u, 64u}) {
      CAPTURE(workers, partitions);
      mapreduce::Pool pool({.workers = workers, .partitions = partitions, .items_per_task = 1000});
      auto got = pool.sorted().map_reduce<std::string, std::uint64_t>(
          keys, [](const std::string& k, auto& emit) { emit(k, 1); }, std::plus<>{});
      CHECK(got == want);
      CHECK(pool.last_stats().sample_seconds > 0);
      auto int_got = pool.sorted().map_reduce<std::int64_t, std::uint64_t>(
          ints, [](std::int64_t k, auto& emit) { emit(k, 1); }, std::plus<>{});
      CHECK(int_got == int_want);
    }
  }
}

TEST_CASE("a sorted job with a per-key reducer keeps each key's values in task order") {
  const std::vector<std::string> keys = random_keys(13, 20000);
  std::map<std::string, std::vector<std::uint64_t>> reference;
  for (std::size_t i = 0; i < keys.size(); ++i) reference[keys[i]].push_back(i);
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> want(reference.begin(), reference.end());
  std::vector<std::uint64_t> index(keys.size());
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
  for (const unsigned workers : {1u, 3u}) {
    mapreduce::Pool pool({.workers = workers, .partitions = 7, .items_per_task = 500});
    auto got = pool.sorted().map_reduce<std::string, std::uint64_t>(
        index, [&keys](std::uint64_t i, auto& emit) { emit(keys[i], i); },
        mapreduce::per_key([](std::string_view, std::span<const std::uint64_t> values) {
          return std::vector<std::uint64_t>(values.begin(), values.end());
        }));
    CHECK(got == want);
  }
}

TEST_CASE("a sorted job over files: skew, an empty input, a Dataset, and the option lasts one job") {
  test::TempDir dir;
  std::string text;
  std::mt19937_64 rng(17);
  for (int i = 0; i < 40000; ++i) {
    text += (i % 2 == 0 ? std::string("hot") : fmt::format("w{}", rng() % 5000)) + "\n";  // half the lines: one key
  }
  const auto file = dir.write("lines.txt", text);
  const auto empty = dir.write("empty.txt", "");
  auto by_line = [](std::string_view chunk, auto& emit) {
    mapreduce::for_each_record(chunk, [&](std::string_view line) { emit(line, 1); });
  };
  std::map<std::string, std::uint64_t> reference;
  mapreduce::for_each_record(text, [&](std::string_view line) { ++reference[std::string(line)]; });
  const std::vector<std::pair<std::string, std::uint64_t>> want(reference.begin(), reference.end());

  mapreduce::Pool pool({.workers = 2, .partitions = 16, .chunk_bytes = 16 << 10});
  CHECK(pool.sorted().map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, by_line, std::plus<>{}) ==
        want);
  CHECK(pool.sorted()
            .map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{empty}}, by_line, std::plus<>{})
            .empty());

  // A Dataset of a sorted job holds key ranges in order; the next job, not sorted, is in hash order.
  auto data = pool.sorted().map_reduce_dataset<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, by_line,
                                                                           std::plus<>{});
  CHECK(data.collect() == want);
  auto unsorted = pool.map_reduce<std::string, std::uint64_t>(mapreduce::FileInput{{file}}, by_line, std::plus<>{});
  CHECK(pool.last_stats().sample_seconds == 0);
  CHECK(unsorted.size() == want.size());
  CHECK_FALSE(unsorted == want);

  // A sorted job over the Dataset: keys by their count.
  auto by_count = pool.sorted().map_reduce<std::uint64_t, std::uint64_t>(
      data, [](std::string_view, std::uint64_t n, auto& emit) { emit(n, 1); }, std::plus<>{});
  std::map<std::uint64_t, std::uint64_t> count_reference;
  for (const auto& [k, n] : want) ++count_reference[n];
  CHECK(by_count ==
        std::vector<std::pair<std::uint64_t, std::uint64_t>>(count_reference.begin(), count_reference.end()));
}

TEST_CASE("a sorted job whose skewed partition does not fit its budget spills, and is exact") {
  // Half of the pairs under one key: its range's reducer gets half the data. With a budget
  // far below the shuffled bytes, runs go to spill files and the reducers read them there.
  std::vector<std::uint32_t> items(20000);
  for (std::uint32_t i = 0; i < items.size(); ++i) items[i] = i;
  auto mapper = [](std::uint32_t i, auto& emit) {
    for (std::uint32_t j = 0; j < 40; ++j) {
      emit(
          j % 2 == 0 ? std::string(200, 'h') : fmt::format("k{:06}-{}", (i * 7919 + j) % 100000, std::string(100, 'x')),
          std::uint64_t(i) * 64 + j);
    }
  };
  auto digest = mapreduce::per_key([](std::string_view, std::span<const std::uint64_t> values) {
    std::uint64_t d = 0;
    for (const std::uint64_t v : values) d = (d ^ v) * 0x100000001b3ULL;  // order-sensitive
    return std::pair<std::uint64_t, std::uint64_t>(values.size(), d);
  });
  std::map<std::string, std::vector<std::uint64_t>> reference;
  auto record = [&reference](std::string_view k, std::uint64_t v) { reference[std::string(k)].push_back(v); };
  for (const auto i : items) mapper(i, record);
  std::vector<std::pair<std::string, std::pair<std::uint64_t, std::uint64_t>>> want;
  for (const auto& [k, values] : reference) want.emplace_back(k, digest(k, std::span<const std::uint64_t>(values)));

  test::TempDir spill;
  mapreduce::Pool pool({.workers = 2,
                        .partitions = 8,
                        .shm_budget = 8 << 20,
                        .items_per_task = 500,
                        .spill_dir = spill.path().string()});
  const auto got = pool.sorted().map_reduce<std::string, std::uint64_t>(items, mapper, digest);
  CHECK(pool.last_stats().spilled_bytes > 4 * (std::uint64_t(8) << 20));
  CHECK(got == want);
  CHECK(std::filesystem::is_empty(spill.path()));
}

TEST_CASE("a sorted job with a combiner cuts ranges of about as many distinct keys each") {
  // Zipf-like: a few keys are most of the emits. Ranges cut by emits would give the frequent
  // keys ranges of their own and leave the rest crowded; by distinct keys they stay even.
  std::vector<std::uint32_t> items(200000);
  for (std::uint32_t i = 0; i < items.size(); ++i) items[i] = i;
  auto mapper = [](std::uint32_t i, auto& emit) {
    const std::uint64_t r = (std::uint64_t(i) * 0x9e3779b97f4a7c15ULL) >> 40;
    emit(fmt::format("k{:07}", r % 7 == 0 ? r % 50000 : r % 10), 1);  // 90 % of emits on 10 keys
  };
  mapreduce::Pool pool({.workers = 2, .partitions = 8, .items_per_task = 5000});
  auto data = pool.sorted().map_reduce_dataset<std::string, std::uint64_t>(items, mapper, std::plus<>{});
  std::vector<std::size_t> keys_per_partition(8, 0);
  std::size_t total = 0;
  for (std::size_t i = 0; i < data.partitions(); ++i) {
    data.for_each_in_partition(i, [&](std::string_view, std::uint64_t) { ++keys_per_partition[data.partition_id(i)]; });
  }
  for (const auto n : keys_per_partition) total += n;
  CAPTURE(keys_per_partition);
  for (const auto n : keys_per_partition) {
    CHECK(n > total / 8 / 2);
    CHECK(n < total / 8 * 2);
  }
}

TEST_CASE("sorted() lasts one job: an imap after it, and the job after that, are not sorted") {
  const std::vector<std::string> words = random_keys(31, 2000);
  mapreduce::Pool pool({.workers = 2, .partitions = 4, .items_per_task = 100});
  pool.sorted();
  std::size_t n = 0;
  for (const auto& len : pool.imap([](const std::string& w) { return w.size(); }, words)) n += len * 0 + 1;
  CHECK(n == words.size());
  pool.map_reduce<std::string, std::uint64_t>(
      words, [](const std::string& w, auto& emit) { emit(w, 1); }, std::plus<>{});
  CHECK(pool.last_stats().sample_seconds == 0);
}

TEST_CASE("a sorted job orders keys by their KeyTraits::less, even when every hash collides") {
  std::vector<std::string> words = random_keys(19, 3000);
  mapreduce::Pool pool({.workers = 2, .partitions = 5, .items_per_task = 100});
  auto got = pool.sorted().map_reduce<test::Colliding, std::uint64_t>(
      words, [](const std::string& w, auto& emit) { emit(w, 1); }, std::plus<>{});
  std::map<std::string, std::uint64_t> reference;
  for (const auto& w : words) ++reference[w];
  REQUIRE(got.size() == reference.size());
  auto it = reference.begin();
  for (const auto& [k, n] : got) {
    CHECK(k.s == it->first);
    CHECK(n == it->second);
    ++it;
  }
}
