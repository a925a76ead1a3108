#include <mapreduce/codec.hpp>

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

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
