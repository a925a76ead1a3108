// The binary layouts of detail/run_format.hpp, pairs_format.hpp, item_format.hpp and
// mpi_format.hpp: each writer read back by its reader, and each reader refusing bytes that
// do not fit the segment (one test file for the four: they are small and share helpers).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mapreduce/detail/item_format.hpp>
#include <mapreduce/detail/mpi_format.hpp>
#include <mapreduce/detail/pairs_format.hpp>
#include <mapreduce/detail/run_format.hpp>
#include <mapreduce/error.hpp>

using namespace mapreduce::detail;
using mapreduce::Error;

namespace {

// A run set of two partitions: partition 0 holds one untagged record ("ab", 7).
std::vector<char> small_run_set() {
  const std::size_t key_bytes = mapreduce::KeyTraits<std::string>::size("ab");
  const std::vector<std::uint64_t> bytes{run_record::untagged_head + key_bytes + 8, 0}, counts{1, 0};
  const auto offsets = run_set_offsets(bytes);
  std::vector<char> seg(offsets.back());
  write_run_set_header(seg.data(), false, offsets, counts);
  char* p = run_record::write_head(seg.data() + offsets[0], 0x1234);
  p = mapreduce::KeyTraits<std::string>::write(p, "ab");
  const std::uint64_t v = 7;
  std::memcpy(p, &v, 8);
  return seg;
}

}  // namespace

TEST_CASE("a run set is read back as written") {
  const auto seg = small_run_set();
  const RunSetView view(seg.data(), seg.size());
  CHECK(view.partitions() == 2);
  CHECK_FALSE(view.tagged());
  CHECK(view.count(0) == 1);
  CHECK(view.count(1) == 0);
  CHECK(view.run(1).empty());
  const char* r = view.run(0).data();
  CHECK(run_record::hash(r) == 0x1234);
  r += run_record::head_bytes(false);
  CHECK(mapreduce::KeyTraits<std::string>::read(r) == "ab");
}

TEST_CASE("tagged records carry their hash, task and size before the key") {
  char a[64];
  const char* end = mapreduce::KeyTraits<std::string>::write(run_record::write_head(a, 5, 2, 5), "k");
  CHECK(run_record::hash(a) == 5);
  CHECK(run_record::task(a) == 2);
  CHECK(run_record::body(a) == 5);
  CHECK(end - a == static_cast<std::ptrdiff_t>(run_record::tagged_head + 4 + 1));
}

TEST_CASE("a run set whose header or offsets do not fit its segment is refused") {
  auto seg = small_run_set();
  CHECK_THROWS_AS(RunSetView(seg.data(), 4), Error);
  CHECK_THROWS_AS(RunSetView(seg.data(), run_set_header_bytes(2) - 1), Error);
  // The segment cut short: the last offset points past it.
  CHECK_THROWS_WITH(RunSetView(seg.data(), seg.size() - 1), Catch::Contains("lies outside the segment"));
  // Offsets that go backwards.
  std::uint64_t bad = 0;
  std::memcpy(seg.data() + sizeof(RunSetHeader) + 8, &bad, 8);
  CHECK_THROWS_AS(RunSetView(seg.data(), seg.size()), Error);
  // A wrong magic number.
  seg = small_run_set();
  seg[0] ^= 1;
  CHECK_THROWS_WITH(RunSetView(seg.data(), seg.size()), Catch::Contains("bad header"));
}

TEST_CASE("reduced pairs are read back as written, and a lie about their count is caught") {
  const std::vector<std::pair<std::string_view, std::uint64_t>> pairs{{"a", 1}, {"bcd", 22}, {"", 3}};
  std::vector<char> seg(pairs_bytes<std::string, std::uint64_t>(pairs));
  CHECK(write_pairs<std::string, std::uint64_t>(seg.data(), pairs) == seg.data() + seg.size());
  const PairsView<std::string, std::uint64_t> view(seg.data(), seg.size());
  CHECK(view.count() == 3);
  std::vector<std::pair<std::string, std::uint64_t>> back;
  view.for_each([&](std::string_view k, std::uint64_t v) { back.emplace_back(k, v); });
  CHECK(back == std::vector<std::pair<std::string, std::uint64_t>>{{"a", 1}, {"bcd", 22}, {"", 3}});

  CHECK_THROWS_AS((PairsView<std::string, std::uint64_t>(seg.data(), 7)), Error);
  // One more record claimed than written: reading runs past the end and says so.
  std::uint64_t more = 4;
  std::memcpy(seg.data(), &more, 8);
  std::vector<char> padded(seg);
  padded.resize(seg.size() + 16, 0);  // room, so the over-read stays in memory we own
  const PairsView<std::string, std::uint64_t> lying(padded.data(), seg.size());
  CHECK_THROWS_WITH(lying.for_each([](auto, auto) {}), Catch::Contains("runs past its end"));
  // A count larger than the bytes is refused at once.
  std::uint64_t huge = 1000;
  std::memcpy(seg.data(), &huge, 8);
  CHECK_THROWS_WITH((PairsView<std::string, std::uint64_t>(seg.data(), seg.size())),
                    Catch::Contains("1000 records in"));
}

TEST_CASE("item blocks are read back task by task") {
  std::vector<char> buf;
  ItemBlockWriter<std::string> first(buf, 3);
  first.add("x");
  first.add("yz");
  CHECK(first.end() == 2);
  ItemBlockWriter<std::string> second(buf, 4);
  CHECK(second.end() == 0);
  std::vector<std::pair<std::uint64_t, std::vector<std::string>>> got;
  for_each_item_block(std::string_view(buf.data(), buf.size()), [&](const ItemBlock& b) {
    got.emplace_back(b.header.task, std::vector<std::string>{});
    b.decode<std::string>([&](std::string s) { got.back().second.push_back(std::move(s)); });
  });
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::pair<std::uint64_t, std::vector<std::string>>{3, {"x", "yz"}});
  CHECK(got[1].first == 4);
  CHECK(got[1].second.empty());
}

TEST_CASE("item blocks cut short are refused") {
  std::vector<char> buf;
  ItemBlockWriter<std::string> w(buf, 0);
  w.add("hello");
  w.end();
  const std::string_view all(buf.data(), buf.size());
  CHECK_THROWS_WITH(for_each_item_block(all.substr(0, 10), [](const ItemBlock&) {}), Catch::Contains("cut header"));
  CHECK_THROWS_WITH(for_each_item_block(all.substr(0, all.size() - 1), [](const ItemBlock&) {}),
                    Catch::Contains("past the end"));
}

TEST_CASE("MPI run blocks travel and come back whole") {
  std::vector<char> buf;
  append_run_set_block(buf, 2, true);
  append_run(buf, TravellingRun{1, 5, "abc"});
  append_run(buf, TravellingRun{3, 1, "d"});
  append_run_set_block(buf, 0, false);
  std::vector<std::pair<bool, std::vector<std::uint32_t>>> sets;
  std::string bytes;
  for_each_run_set_block(std::string_view(buf.data(), buf.size()), 4, [&](bool tagged, const auto& runs) {
    sets.emplace_back(tagged, std::vector<std::uint32_t>{});
    for (const TravellingRun& r : runs) {
      sets.back().second.push_back(r.partition);
      bytes += r.data;
    }
  });
  REQUIRE(sets.size() == 2);
  CHECK(sets[0] == std::pair<bool, std::vector<std::uint32_t>>{true, {1, 3}});
  CHECK(sets[1] == std::pair<bool, std::vector<std::uint32_t>>{false, {}});
  CHECK(bytes == "abcd");
  // A partition this job does not have, and a block cut short.
  CHECK_THROWS_WITH(for_each_run_set_block(std::string_view(buf.data(), buf.size()), 2, [](bool, const auto&) {}),
                    Catch::Contains("unknown partition"));
  CHECK_THROWS_WITH(for_each_run_set_block(std::string_view(buf.data(), 20), 4, [](bool, const auto&) {}),
                    Catch::Contains("cut short"));
}

TEST_CASE("MPI reduced blocks travel and come back whole") {
  std::vector<char> buf;
  append_reduced_block(buf, 7, "seven");
  append_reduced_block(buf, 2, "");
  std::vector<std::pair<std::uint32_t, std::string>> got;
  for_each_reduced_block(std::string_view(buf.data(), buf.size()),
                         [&](std::uint32_t p, std::string_view d) { got.emplace_back(p, d); });
  CHECK(got == std::vector<std::pair<std::uint32_t, std::string>>{{7, "seven"}, {2, ""}});
  CHECK_THROWS_AS(for_each_reduced_block(std::string_view(buf.data(), 14), [](std::uint32_t, std::string_view) {}),
                  Error);
}
