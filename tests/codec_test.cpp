#include <mapreduce/codec.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <mapreduce/mapreduce.hpp>

#include "support.hpp"

namespace {

struct Point {
  std::string name;
  double x = 0, y = 0;
  bool operator==(const Point&) const = default;
};

}  // namespace

template <>
struct mapreduce::Codec<Point> {
  static std::size_t size(const Point& p) { return Codec<std::string>::size(p.name) + 16; }
  static char* write(char* out, const Point& p) {
    out = Codec<std::string>::write(out, p.name);
    out = Codec<double>::write(out, p.x);
    return Codec<double>::write(out, p.y);
  }
  static Point read(const char*& in) {
    Point p;
    p.name = Codec<std::string>::read(in);
    p.x = Codec<double>::read(in);
    p.y = Codec<double>::read(in);
    return p;
  }
};

namespace {

template <class T>
T round_trip(const T& value) {
  std::vector<char> buf(mapreduce::Codec<T>::size(value));
  char* end = mapreduce::Codec<T>::write(buf.data(), value);
  REQUIRE(end == buf.data() + buf.size());
  const char* in = buf.data();
  T back = mapreduce::Codec<T>::read(in);
  REQUIRE(in == buf.data() + buf.size());
  return back;
}

}  // namespace

TEST_CASE("trivially copyable values travel as their bytes", "[codec]") {
  CHECK(round_trip(42) == 42);
  CHECK(round_trip(-1.5) == -1.5);
  struct Pair {
    int a;
    char b;
  };
  const Pair p = round_trip(Pair{7, 'x'});
  CHECK(p.a == 7);
  CHECK(p.b == 'x');
  CHECK(mapreduce::Codec<std::uint64_t>::size(1) == 8);
}

TEST_CASE("strings, vectors and pairs round-trip, empty ones too", "[codec]") {
  CHECK(round_trip(std::string()) == "");
  CHECK(round_trip(std::string("with\0nul", 8)) == std::string("with\0nul", 8));
  CHECK(round_trip(std::vector<int>{}) == std::vector<int>{});
  CHECK(round_trip(std::vector<int>{1, 2, 3}) == std::vector<int>{1, 2, 3});
  const std::vector<std::string> words{"a", "", "ccc"};
  CHECK(round_trip(words) == words);
  const std::pair<std::string, std::vector<double>> pv{"k", {1.0, 2.5}};
  CHECK(round_trip(pv) == pv);
}

TEST_CASE("a user-specialized Codec is used for the user's type", "[codec]") {
  STATIC_REQUIRE(mapreduce::Encodable<Point>);
  STATIC_REQUIRE(mapreduce::Encodable<std::vector<Point>>);
  const std::vector<Point> pts{{"a", 1, 2}, {"bb", -3, 4.5}};
  CHECK(round_trip(pts) == pts);
}

TEST_CASE("types without a Codec are not Encodable", "[codec]") {
  struct NotCopyable {
    std::string s;
  };
  STATIC_REQUIRE_FALSE(mapreduce::Encodable<NotCopyable>);
}

// Codecs that lie, in real jobs: each kind of job fails with a JobError that names the Codec
// and what it got wrong, never with a worker killed by a signal. Under the sanitizer build
// these also show that no read or write leaves the memory the engine owns.
namespace {

// How Codec<Blob> lies. Set in the parent before a job; its workers inherit it at fork.
enum class Lie { none, short_size, wrong_end, over_read, under_read };
Lie lie = Lie::none;

// Sets the lie for one test and takes it back, so that a failing CHECK leaves no lie behind.
class Lying {
 public:
  explicit Lying(Lie l) noexcept { lie = l; }
  ~Lying() { lie = Lie::none; }
  Lying(const Lying&) = delete;
  Lying& operator=(const Lying&) = delete;
};

struct Blob {
  std::string name;
  std::uint64_t n = 0;
  bool operator==(const Blob&) const = default;
};

}  // namespace

template <>
struct mapreduce::Codec<Blob> {
  static std::size_t size(const Blob& b) { return 4 + b.name.size() + (lie == Lie::short_size ? 0 : 8); }
  static char* write(char* out, const Blob& b) {
    out = Codec<std::string>::write(out, b.name);
    out = Codec<std::uint64_t>::write(out, b.n);
    return lie == Lie::wrong_end ? out + 3 : out;
  }
  static Blob read(const char*& in) {
    Blob b;
    b.name = Codec<std::string>::read(in);
    if (lie != Lie::under_read) b.n = Codec<std::uint64_t>::read(in);
    if (lie == Lie::over_read) {
      // Loads 8 bytes that write() never wrote, as a Codec with one field too many would.
      std::uint64_t extra;
      std::memcpy(&extra, in, 8);
      in += 8;
      if (extra == 0x0123456789abcdefULL) b.name += '!';
    }
    return b;
  }
};

namespace {

// Every lie, with the words its message must hold: the Codec's name and what it did.
struct Case {
  Lie lie;
  std::vector<std::string> words;
};
const std::vector<Case>& lies() {
  static const std::vector<Case> cases{
      {Lie::short_size, {"Codec<", "Blob>::write wrote 15 bytes, size() said 7"}},
      {Lie::wrong_end, {"Codec<", "Blob>::write wrote 18 bytes, size() said 15"}},
      {Lie::over_read, {"Codec<", "Blob>::read", "write() wrote"}},
      {Lie::under_read, {"Codec<", "Blob>::read", "write() wrote"}},
  };
  return cases;
}

// Runs `job` under each lie: it must fail with a JobError whose message has the words.
void check_every_lie(const std::function<void()>& job, const std::vector<Lie>& skip = {}) {
  for (const Case& c : lies()) {
    if (std::find(skip.begin(), skip.end(), c.lie) != skip.end()) continue;
    const Lying lying(c.lie);
    const std::string msg = test::job_error(job);
    INFO("lie " << static_cast<int>(c.lie) << ": " << msg);
    for (const std::string& w : c.words) CHECK_THAT(msg, Catch::Contains(w));
    CHECK_THAT(msg, !Catch::Contains("signal"));
  }
}

// Items whose names make records of 15 bytes ("abc"): 4 for the length, 3, and 8.
std::vector<int> blob_items() { return test::range(0, 400); }
Blob blob_of(int i) { return Blob{"abc", static_cast<std::uint64_t>(i)}; }

}  // namespace

TEST_CASE("a lying Codec fails a combining job with a JobError that names it", "[codec][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .partitions = 3, .items_per_task = 50});
  const auto job = [&] {
    return pool.map_reduce<std::uint32_t, Blob>(
        blob_items(), [](int i, auto& emit) { emit(static_cast<std::uint32_t>(i % 7), blob_of(i)); },
        [](const Blob& a, const Blob& b) {
          return Blob{a.name, a.n + b.n};
        });
  };
  auto honest = job();
  mapreduce::sort_by_key(honest);
  REQUIRE(honest.size() == 7);
  std::uint64_t sum = 0;
  for (const auto& [k, b] : honest) sum += b.n;
  CHECK(sum == 399 * 400 / 2);
  check_every_lie([&] { (void)job(); });
}

TEST_CASE("a lying Codec fails a job without a combiner with a JobError that names it", "[codec][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .partitions = 3, .items_per_task = 50});
  const auto job = [&] {
    return pool.map_reduce<std::string, Blob>(
        blob_items(), [](int i, auto& emit) { emit(std::to_string(i % 5), blob_of(i)); },
        mapreduce::per_key([](auto, auto values) { return static_cast<std::uint64_t>(values.size()); }));
  };
  auto honest = job();
  mapreduce::sort_by_key(honest);
  CHECK(honest ==
        std::vector<std::pair<std::string, std::uint64_t>>{{"0", 80}, {"1", 80}, {"2", 80}, {"3", 80}, {"4", 80}});
  check_every_lie([&] { (void)job(); });
  // Each record carries its length here: a read() that stops short is measured exactly.
  const Lying lying(Lie::under_read);
  CHECK_THAT(test::job_error([&] { (void)job(); }),
             Catch::Contains("Blob>::read read 7 bytes of a value that write() wrote in 15"));
}

TEST_CASE("a lying Codec fails Pool::map with a JobError that names it", "[codec][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .items_per_task = 30});
  const auto job = [&] { return pool.map([](int i) { return blob_of(i); }, blob_items()); };
  const std::vector<Blob> honest = job();
  REQUIRE(honest.size() == 400);
  CHECK(honest[399] == blob_of(399));
  check_every_lie([&] { (void)job(); });
}

TEST_CASE("a lying Codec fails Pool::imap with a JobError that names it", "[codec][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2});
  const auto job = [&] {
    std::vector<Blob> out;
    // Chunks of 7: each result travels in a message, not a segment, as imap's small ones do.
    for (const Blob& b : pool.imap([](int i) { return blob_of(i); }, blob_items(), {.chunk = 7})) out.push_back(b);
    return out;
  };
  const std::vector<Blob> honest = job();
  REQUIRE(honest.size() == 400);
  CHECK(honest[123] == blob_of(123));
  check_every_lie([&] { (void)job(); });
}

TEST_CASE("a lying Codec fails a chain of Datasets with a JobError that names it", "[codec][errors]") {
  test::LeakCheck leaks;
  mapreduce::Pool pool({.workers = 2, .partitions = 3, .items_per_task = 50});
  // Blob is only the reduced value: written by the reducers, read by the parent's collect()
  // and by the next job's mappers.
  const auto first = [&] {
    return pool.map_reduce_dataset<std::uint32_t, std::uint64_t>(
        blob_items(), [](int i, auto& emit) { emit(static_cast<std::uint32_t>(i % 7), std::uint64_t(1)); },
        mapreduce::per_key([](std::uint32_t, auto values) {
          return Blob{"abc", values.size()};
        }));
  };
  const auto next = [&](const auto& data) {
    return pool.map_reduce<std::uint32_t, std::uint64_t>(
        data, [](std::uint32_t k, const Blob& b, auto& emit) { emit(k % 2, b.n); }, std::plus<>{});
  };
  {
    const auto data = first();
    CHECK(data.collect().size() == 7);
    auto sums = next(data);
    mapreduce::sort_by_key(sums);
    CHECK(sums == std::vector<std::pair<std::uint32_t, std::uint64_t>>{{0, 229}, {1, 171}});
  }
  // Written by a lying write(): the reducers fail.
  check_every_lie([&] { (void)first(); }, {Lie::over_read, Lie::under_read});
  // Read by a lying read(): in the parent, and in the next job's workers.
  check_every_lie(
      [&] {
        const auto data = first();
        (void)data.collect();
      },
      {Lie::short_size, Lie::wrong_end});
  check_every_lie(
      [&] {
        const auto data = first();
        (void)next(data);
      },
      {Lie::short_size, Lie::wrong_end});
}
