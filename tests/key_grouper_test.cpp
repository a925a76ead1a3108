// The shuffle of jobs without a combiner, without processes: map buffers written as run sets
// (record_buffer.hpp), the radix sort (radix_sort.hpp), and each partition grouped by key
// (key_grouper.hpp), against a reference made here.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/detail/key_grouper.hpp>
#include <mapreduce/detail/radix_sort.hpp>
#include <mapreduce/detail/record_buffer.hpp>

#include "colliding_key.hpp"

namespace {

using mapreduce::detail::GroupBuffers;
using mapreduce::detail::KeyGrouper;
using mapreduce::detail::RecordBuffer;
using mapreduce::detail::RecordRef;
using mapreduce::detail::RunSetView;

using test::Colliding;

}  // namespace

// A value with no default constructor: the grouper places its records, not its values.
namespace test {
struct NoDefault {
  explicit NoDefault(std::uint64_t x) : v(x) {}
  std::uint64_t v;
};
}  // namespace test

template <>
struct mapreduce::Codec<test::NoDefault> {
  static std::size_t size(const test::NoDefault&) noexcept { return 8; }
  static char* write(char* out, const test::NoDefault& v) noexcept {
    std::memcpy(out, &v.v, 8);
    return out + 8;
  }
  static test::NoDefault read(const char*& in) noexcept {
    std::uint64_t x;
    std::memcpy(&x, in, 8);
    in += 8;
    return test::NoDefault(x);
  }
};

namespace {

// One emitted pair, as the test made it.
struct Emit {
  std::uint32_t task;
  std::string key;
  std::uint64_t value;
};

// What the job must give: each key's values in task order, and in emit order within a task.
std::map<std::string, std::vector<std::uint64_t>> reference(std::vector<Emit> emits) {
  std::stable_sort(emits.begin(), emits.end(), [](const Emit& a, const Emit& b) { return a.task < b.task; });
  std::map<std::string, std::vector<std::uint64_t>> out;
  for (const Emit& e : emits) out[e.key].push_back(e.value);
  return out;
}

// Seeded emits: tasks spread over `workers` buffers in an interleaved (and, for one worker,
// out-of-order) way; keys of 0 to 4 KiB from a skewed vocabulary, one key holding about
// half of the pairs.
std::vector<Emit> random_emits(std::uint64_t seed, std::size_t n, std::uint32_t tasks) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> vocab{"", "hot"};
  for (int i = 0; i < 500; ++i) {
    const std::size_t len = i % 50 == 0 ? 1 + rng() % 4096 : rng() % 20;
    std::string k;
    for (std::size_t j = 0; j < len; ++j) k += static_cast<char>(rng() % 256);
    vocab.push_back(k);
  }
  std::vector<Emit> emits;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t task = static_cast<std::uint32_t>(i * tasks / n);
    const std::string& key = rng() % 2 == 0 ? vocab[1] : vocab[rng() % vocab.size()];
    emits.push_back(Emit{task, key, i});
  }
  return emits;
}

// Runs the shuffle in memory: task t goes to buffer order[t] % workers, the buffers are
// flushed as run sets, and each partition is grouped in `memory` bytes.
std::uint64_t number_of(std::uint64_t v) { return v; }
std::uint64_t number_of(const test::NoDefault& v) { return v.v; }

template <class K, class V = std::uint64_t>
std::map<std::string, std::vector<std::uint64_t>> shuffle(const std::vector<Emit>& emits,
                                                          const std::vector<std::uint32_t>& task_order,
                                                          unsigned workers, std::uint32_t partitions,
                                                          std::size_t memory, std::uint32_t* ranges_seen = nullptr) {
  std::vector<RecordBuffer<K, V>> buffers;
  for (unsigned w = 0; w < workers; ++w) buffers.emplace_back(partitions);
  std::vector<std::vector<char>> segments;
  // Tasks run in `task_order`; a worker flushes after every third task it runs.
  std::vector<unsigned> ran(workers, 0);
  for (std::size_t i = 0; i < task_order.size(); ++i) {
    const std::uint32_t t = task_order[i];
    const unsigned w = static_cast<unsigned>(i % workers);
    buffers[w].set_task(t);
    for (const Emit& e : emits) {
      if (e.task == t) buffers[w].add(mapreduce::KeyTraits<K>::hash(e.key), e.key, V(e.value));
    }
    if (++ran[w] % 3 == 0 && !buffers[w].empty()) {
      segments.emplace_back(buffers[w].run_set_bytes());
      buffers[w].write_run_set(segments.back().data());
    }
  }
  for (auto& b : buffers) {
    if (b.empty()) continue;
    segments.emplace_back(b.run_set_bytes());
    b.write_run_set(segments.back().data());
  }
  std::map<std::string, std::vector<std::uint64_t>> out;
  std::string previous_hash_key;
  GroupBuffers<K, V> group_buffers;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    std::vector<std::string_view> runs;
    std::uint64_t records = 0;
    for (const auto& s : segments) {
      const RunSetView view(s.data(), s.size());
      REQUIRE(view.tagged());
      runs.push_back(view.run(p));
      records += view.count(p);
    }
    KeyGrouper<K, V> grouper(runs, partitions, records, memory);
    grouper.for_each_group(group_buffers, [&](std::string_view key, std::span<const V> values) {
      REQUIRE(out.count(std::string(key)) == 0);  // each key once
      for (const V& v : values) out[std::string(key)].push_back(number_of(v));
    });
    if (ranges_seen != nullptr) *ranges_seen = std::max(*ranges_seen, grouper.ranges());
  }
  return out;
}

std::vector<std::uint32_t> in_order(std::uint32_t tasks) {
  std::vector<std::uint32_t> t(tasks);
  for (std::uint32_t i = 0; i < tasks; ++i) t[i] = i;
  return t;
}

}  // namespace

TEST_CASE("the radix sort of records equals a stable sort, for any split and size") {
  std::mt19937_64 rng(7);
  for (const std::size_t n : {0, 1, 63, 64, 65, 1000, 100000}) {
    for (const int split : {64, 31, 11, 0}) {
      for (const int variety : {0, 1, 2}) {
        std::vector<RecordRef> v(n);
        for (std::size_t i = 0; i < n; ++i) {
          std::uint64_t k = rng();
          if (variety == 1) k = (0xabcdULL << 48) | (k % 1000);          // a shared top, few keys
          if (variety == 2) k = (k % 7) << 60 | (std::uint64_t(i) % 3);  // many equal keys
          v[i] = RecordRef{k, reinterpret_cast<const char*>(i)};
        }
        auto expected = v;
        std::stable_sort(expected.begin(), expected.end(),
                         [](const RecordRef& a, const RecordRef& b) { return a.key < b.key; });
        std::vector<RecordRef> scratch;
        mapreduce::detail::sort_by_key(v, scratch, split);
        INFO("n " << n << " split " << split << " variety " << variety);
        REQUIRE(std::equal(v.begin(), v.end(), expected.begin(), expected.end(), [](const auto& a, const auto& b) {
          return a.key == b.key && a.at == b.at;  // equal keys keep their order
        }));
      }
    }
  }
}

TEST_CASE("grouped values come in task order, then emit order, however tasks were spread") {
  const auto emits = random_emits(1, 20000, 40);
  const auto expected = reference(emits);
  for (const unsigned workers : {1u, 2u, 3u}) {
    for (const std::uint32_t partitions : {1u, 7u, 64u}) {
      INFO(workers << " workers, " << partitions << " partitions");
      CHECK(shuffle<std::string>(emits, in_order(40), workers, partitions, std::size_t(1) << 30) == expected);
    }
  }
  // A retried task runs after later ones on the same worker: the order must not change.
  auto order = in_order(40);
  std::rotate(order.begin() + 5, order.begin() + 6, order.end());  // task 5 last
  std::swap(order[10], order[20]);
  CHECK(shuffle<std::string>(emits, order, 2, 7, std::size_t(1) << 30) == expected);
}

TEST_CASE("a partition larger than the memory given is grouped in hash ranges, with the same result") {
  const auto emits = random_emits(2, 30000, 20);
  const auto expected = reference(emits);
  std::uint32_t ranges = 0;
  // 30000 records, 12 bytes each of ids and values, in 3 partitions, in 64 KiB at a time.
  CHECK(shuffle<std::string>(emits, in_order(20), 2, 3, 64 << 10, &ranges) == expected);
  CHECK(ranges >= 4);
}

TEST_CASE("a range with more distinct keys than its share is split again as it is read") {
  std::vector<Emit> emits;
  for (std::uint32_t i = 0; i < 20000; ++i)
    emits.push_back(Emit{i / 1000, "key " + std::to_string(i * 7919 % 20000), i});
  const auto expected = reference(emits);
  std::uint32_t ranges = 0;
  // 64 KiB: the values alone would take 5 ranges; 20000 distinct keys take more.
  CHECK(shuffle<std::string>(emits, in_order(20), 2, 1, 64 << 10, &ranges) == expected);
  CHECK(ranges >= 16);
}

TEST_CASE("a value type with no default constructor is grouped in the same order") {
  const auto emits = random_emits(4, 20000, 40);
  CHECK(shuffle<std::string, test::NoDefault>(emits, in_order(40), 2, 7, std::size_t(1) << 30) == reference(emits));
  std::uint32_t ranges = 0;
  CHECK(shuffle<std::string, test::NoDefault>(emits, in_order(40), 3, 2, 64 << 10, &ranges) == reference(emits));
  CHECK(ranges >= 2);
}

TEST_CASE("keys that end where a page ends, before an unreadable one, are copied in bounds and whole") {
  // A word's record copies 16 bytes at once: never from past the key's page, and only the
  // key's own bytes reach the record.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  REQUIRE(::mprotect(static_cast<char*>(mem) + page, page, PROT_NONE) == 0);
  char* const end = static_cast<char*>(mem) + page;
  std::memset(mem, 'z', page);
  RecordBuffer<std::string, std::uint64_t> buffer(3);
  buffer.set_task(0);
  std::map<std::string, std::vector<std::uint64_t>> expected;
  for (std::uint64_t n = 0; n <= 40; ++n) {
    std::memset(end - n, static_cast<int>('a' + n % 26), n);
    const std::string_view key(end - n, n);
    for (std::uint64_t v = 0; v < 3; ++v) {
      buffer.add(mapreduce::KeyTraits<std::string>::hash(key), key, n * 10 + v);
      expected[std::string(key)].push_back(n * 10 + v);
    }
  }
  std::vector<char> seg(buffer.run_set_bytes());
  buffer.write_run_set(seg.data());
  ::munmap(mem, 2 * page);
  const RunSetView view(seg.data(), seg.size());
  std::map<std::string, std::vector<std::uint64_t>> got;
  GroupBuffers<std::string, std::uint64_t> b;
  for (std::uint32_t p = 0; p < 3; ++p) {
    KeyGrouper<std::string, std::uint64_t>({view.run(p)}, 3, view.count(p), 1 << 20)
        .for_each_group(b, [&](std::string_view key, std::span<const std::uint64_t> values) {
          got[std::string(key)].assign(values.begin(), values.end());
        });
  }
  CHECK(got == expected);
}

TEST_CASE("many keys that share one hash are grouped in one range, not split without end") {
  // 3000 distinct keys, all at one place of the hash: no split can divide them, so the
  // range that holds them is done whole, whatever its share.
  std::vector<Emit> emits;
  for (std::uint32_t i = 0; i < 6000; ++i) emits.push_back(Emit{i / 600, "c" + std::to_string(i % 3000), i});
  std::uint32_t ranges = 0;
  CHECK(shuffle<Colliding>(emits, in_order(10), 2, 1, 4096, &ranges) == reference(emits));
  CHECK(ranges <= 64);  // the ranges its records take (36), not thousands of splits
}

TEST_CASE("keys that all share one hash are still grouped exactly") {
  const auto emits = random_emits(3, 5000, 10);
  CHECK(shuffle<Colliding>(emits, in_order(10), 2, 4, std::size_t(1) << 30) == reference(emits));
  // In ranges too: the single hash lands in one range.
  CHECK(shuffle<Colliding>(emits, in_order(10), 2, 4, 4096) == reference(emits));
}

TEST_CASE("a run whose records do not fit it is refused, not read past") {
  RecordBuffer<std::string, std::uint64_t> buffer(1);
  buffer.set_task(0);
  buffer.add(mapreduce::KeyTraits<std::string>::hash("key"), "key", 1);
  buffer.add(mapreduce::KeyTraits<std::string>::hash("other"), "other", 2);
  std::vector<char> seg(buffer.run_set_bytes());
  buffer.write_run_set(seg.data());
  const RunSetView view(seg.data(), seg.size());
  GroupBuffers<std::string, std::uint64_t> b;
  auto group = [&](std::string_view run) {
    KeyGrouper<std::string, std::uint64_t>({run}, 1, 2, 1 << 20).for_each_group(b, [](auto, auto) {});
  };
  const std::string_view run = view.run(0);
  CHECK_NOTHROW(group(run));
  CHECK_THROWS_WITH(group(run.substr(0, run.size() - 1)), Catch::Contains("corrupt map run"));
  CHECK_THROWS_WITH(group(run.substr(0, 10)), Catch::Contains("corrupt map run"));
  // The run: a mark of task 0, then the records.
  REQUIRE(run[0] == 1);
  // A body that claims more than the run holds (a 5-byte head over the first record's 1).
  std::string bad(run.substr(0, 1));
  char head[mapreduce::detail::tagged_record::max_head];
  const std::size_t head_bytes = static_cast<std::size_t>(
      mapreduce::detail::tagged_record::write_head(head, mapreduce::detail::tagged_record::record_word(1u << 30)) -
      head);
  bad.append(head, head_bytes);
  bad.append(run.substr(2));
  CHECK_THROWS_WITH(group(bad), Catch::Contains("a record runs past the end of its run"));
  // A record before any mark.
  CHECK_THROWS_WITH(group(run.substr(1)), Catch::Contains("a record before any task mark"));
  // A mark of a task past 32 bits.
  std::string marked(
      head, static_cast<std::size_t>(mapreduce::detail::tagged_record::write_head(
                                         head, mapreduce::detail::tagged_record::mark_word(std::uint64_t(1) << 32)) -
                                     head));
  marked.append(run.substr(1));
  CHECK_THROWS_WITH(group(marked), Catch::Contains("task 4294967296 out of range"));
  // Fewer records than the run sets' headers said.
  auto group_as_three = [&] {
    KeyGrouper<std::string, std::uint64_t>({run}, 1, 3, 1 << 20).for_each_group(b, [](auto, auto) {});
  };
  CHECK_THROWS_WITH(group_as_three(), Catch::Contains("2 records where 3 were written"));
  // A head cut short.
  std::string cut(run.substr(0, 1));
  cut.append(head, head_bytes - 1);
  CHECK_THROWS_WITH(group(cut), Catch::Contains("head runs past the end"));
}

namespace {
// A value whose Codec says one size and writes another.
struct Lying {
  std::uint32_t x;
};
}  // namespace
template <>
struct mapreduce::Codec<Lying> {
  static std::size_t size(const Lying&) noexcept { return 8; }
  static char* write(char* out, const Lying& v) noexcept {
    std::memcpy(out, &v.x, 4);
    return out + 4;
  }
  static Lying read(const char*& in) noexcept {
    Lying v{};
    std::memcpy(&v.x, in, 4);
    in += 4;
    return v;
  }
};

TEST_CASE("a Codec whose write() disagrees with its size() fails the emit with a clear error") {
  RecordBuffer<std::string, Lying> buffer(2);
  buffer.set_task(0);
  CHECK_THROWS_WITH(buffer.add(1, "k", Lying{1}), Catch::Contains("Lying>::write wrote 4 bytes, size() said 8"));
}
