// The binary layouts of detail/run_format.hpp, pairs_format.hpp, item_format.hpp and
// mpi_format.hpp: each writer read back by its reader, and each reader refusing bytes that
// do not fit the segment (one test file for the four: they are small and share helpers);
// and the guards of codec_guard.hpp around a user's Codec.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mapreduce/detail/codec_guard.hpp>
#include <mapreduce/detail/item_format.hpp>
#include <mapreduce/detail/mpi_format.hpp>
#include <mapreduce/detail/pairs_format.hpp>
#include <mapreduce/detail/reduce_work.hpp>
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
  r += run_record::untagged_head;
  CHECK(mapreduce::KeyTraits<std::string>::read(r) == "ab");
}

TEST_CASE("tagged records: a varint head of the body's size, and task marks") {
  char a[64];
  // A mark of task 2, then a record of a 1-byte key (4 + 1 bytes) and no value.
  char* p = tagged_record::write_head(a, tagged_record::mark_word(2));
  CHECK(p - a == 1);
  const char* end = mapreduce::KeyTraits<std::string>::write(
      tagged_record::write_head(p, tagged_record::record_word(5)), "k");
  CHECK(end - a == 1 + 1 + 4 + 1);
  std::uint64_t word = 0;
  const char* next = tagged_record::read_head(a, end, word);
  CHECK(tagged_record::is_mark(word));
  CHECK(word >> 1 == 2);
  next = tagged_record::read_head(next, end, word);
  CHECK_FALSE(tagged_record::is_mark(word));
  CHECK(word >> 1 == 5);
  CHECK(end - next == 5);

  // Heads of every length, read back with and without bounds.
  for (const std::uint64_t body : {std::uint64_t{0}, std::uint64_t{63}, std::uint64_t{64}, std::uint64_t{8191},
                                   std::uint64_t{8192}, std::uint64_t{1} << 20, std::uint64_t{UINT32_MAX}}) {
    const std::uint64_t w = tagged_record::record_word(body);
    char* const head_end = tagged_record::write_head(a, w);
    CHECK(static_cast<std::size_t>(head_end - a) == tagged_record::head_bytes(w));
    CHECK(tagged_record::head_bytes(w) <= tagged_record::max_head);
    CHECK(tagged_record::read_head(a, head_end, word) == head_end);
    CHECK(word == w);
    CHECK(tagged_record::skip_head(a, word) == head_end);
    CHECK(word == w);
    if (head_end - a > 1) CHECK(tagged_record::read_head(a, head_end - 1, word) == nullptr);  // cut short
  }
  // More continuation bytes than any head has: refused, not read on.
  std::memset(a, 0xff, sizeof a);
  CHECK(tagged_record::read_head(a, a + sizeof a, word) == nullptr);
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

TEST_CASE("the partitions that hold records are read from run set headers alone") {
  const auto seg = small_run_set();  // 2 partitions: 1 record in partition 0, none in 1
  const std::string_view header(seg.data(), run_set_header_bytes(2));
  std::vector<char> has;
  mark_partitions_with_records(header, 2, has);
  CHECK(has == std::vector<char>{1, 0});
  // Marks add up over run sets: one with a record in partition 1 marks it too.
  const std::vector<std::uint64_t> bytes{0, 0}, counts{0, 3};
  std::vector<char> other(run_set_header_bytes(2));
  write_run_set_header(other.data(), false, run_set_offsets(bytes), counts);
  mark_partitions_with_records(std::string_view(other.data(), other.size()), 2, has);
  CHECK(has == std::vector<char>{1, 1});
  // A header cut short, of another partition count, or not a run set's.
  CHECK_THROWS_WITH(mark_partitions_with_records(header.substr(0, 20), 2, has), Catch::Contains("cut short"));
  std::vector<char> wide(run_set_header_bytes(3));
  write_run_set_header(wide.data(), false, run_set_offsets({0, 0, 0}), {0, 0, 0});
  CHECK_THROWS_WITH(mark_partitions_with_records(std::string_view(wide.data(), run_set_header_bytes(2)), 2, has),
                    Catch::Contains("3 partitions where 2 were cut"));
  std::string bad(header);
  bad[0] ^= 1;
  CHECK_THROWS_AS(mark_partitions_with_records(bad, 2, has), Error);
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
  ByteBuffer buf;
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
  ByteBuffer buf;
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

// The parent reads what workers wrote: bytes cut short or changed must give an Error, never
// a read outside them. Each case is copied into a buffer of exactly its size, so that the
// sanitizer build sees any byte read past it.
namespace {

using Values = std::vector<std::uint32_t>;  // a vector: its count is read from the bytes too

std::vector<char> some_pairs() {
  const std::vector<std::pair<std::string_view, Values>> pairs{{"a", {1, 2}}, {"bcd", {}}, {"", {7}}};
  std::vector<char> seg(pairs_bytes<std::string, Values>(pairs));
  write_pairs<std::string, Values>(seg.data(), pairs);
  return seg;
}

std::vector<char> some_items() {
  ByteBuffer buf;
  ItemBlockWriter<std::string> a(buf, 0);
  a.add("first");
  a.add("");
  a.end();
  ItemBlockWriter<std::string> b(buf, 1);
  b.add("second");
  b.end();
  return {buf.data(), buf.data() + buf.size()};
}

// Decodes `bytes` as the parent does; true when they parse, false when refused with an Error.
bool parse_pairs(const std::vector<char>& bytes) {
  const std::vector<char> exact(bytes);  // no byte after them to read by mistake
  try {
    (void)decode_pairs<std::string, Values>({std::string_view(exact.data(), exact.size())});
    return true;
  } catch (const mapreduce::JobError&) {
    return false;
  }
}
bool parse_items(const std::vector<char>& bytes) {
  const std::vector<char> exact(bytes);
  try {
    for_each_item_block(std::string_view(exact.data(), exact.size()),
                        [](const ItemBlock& b) { b.decode<std::string>([](const std::string&) {}); });
    return true;
  } catch (const mapreduce::JobError&) {
    return false;
  }
}

}  // namespace

TEST_CASE("reduced pairs and item blocks cut anywhere are refused, not read past") {
  const auto pairs = some_pairs();
  CHECK(parse_pairs(pairs));
  for (std::size_t n = 0; n < pairs.size(); ++n) {
    INFO("cut to " << n << " of " << pairs.size() << " bytes");
    CHECK_FALSE(parse_pairs({pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(n)}));
  }
  const auto items = some_items();
  CHECK(parse_items(items));
  // Every cut but those between blocks (a whole block less is still blocks).
  for (std::size_t n = 1; n < items.size(); ++n) {
    if (n == item_block_header_bytes + 4 + 5 + 4) continue;
    INFO("cut to " << n << " of " << items.size() << " bytes");
    CHECK_FALSE(parse_items({items.begin(), items.begin() + static_cast<std::ptrdiff_t>(n)}));
  }
}

TEST_CASE("reduced pairs and item blocks with any byte changed parse or are refused, never read past") {
  for (const auto& [name, good] : {std::pair{"pairs", some_pairs()}, std::pair{"items", some_items()}}) {
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (const int flip : {0x01, 0x80, 0xff}) {
        auto bad = good;
        bad[i] = static_cast<char>(bad[i] ^ flip);
        INFO(name << ": byte " << i << " ^ " << flip);
        // Either outcome is right; what matters is that no other exception and no stray
        // read (the sanitizers) happens on the way.
        CHECK_NOTHROW(std::string_view(name) == "pairs" ? parse_pairs(bad) : parse_items(bad));
      }
    }
  }
}

namespace {
// A value whose read() loads 8 bytes more than its write() wrote.
struct Greedy {
  std::uint64_t v = 0;
};
}  // namespace
template <>
struct mapreduce::Codec<Greedy> {
  static std::size_t size(const Greedy&) noexcept { return 8; }
  static char* write(char* out, const Greedy& g) noexcept {
    std::memcpy(out, &g.v, 8);
    return out + 8;
  }
  static Greedy read(const char*& in) noexcept {
    Greedy g;
    std::uint64_t extra;
    std::memcpy(&g.v, in, 8);
    std::memcpy(&extra, in + 8, 8);
    g.v ^= extra & 0;  // loaded all the same: the load is what the sanitizer watches
    in += 16;
    return g;
  }
};

TEST_CASE("a user's read() that reads past the last pair reads room the parent owns, and is named") {
  const std::vector<std::pair<std::string_view, Greedy>> pairs{{"k", Greedy{5}}};
  std::vector<char> seg(pairs_bytes<std::string, Greedy>(pairs));
  write_pairs<std::string, Greedy>(seg.data(), pairs);
  // Exactly the bytes: decode_pairs gives the read() a padded copy, so its 8 extra bytes are
  // the engine's and the sanitizer build sees no overflow.
  CHECK_THROWS_WITH((decode_pairs<std::string, Greedy>({std::string_view(seg.data(), seg.size())})),
                    Catch::Contains("Greedy>::read read past the end") && Catch::Contains("by 8 bytes"));
}

TEST_CASE("the library's Codecs, inside a user's read(), stop at the end of the bytes") {
  // A length that was never a length: read under a limit, it throws instead of reading on.
  const std::uint32_t huge = 1u << 30;
  std::vector<char> bytes(4);
  std::memcpy(bytes.data(), &huge, 4);
  const char* in = bytes.data();
  {
    const ReadLimit limit(bytes.data() + bytes.size());
    CHECK_THROWS_AS(mapreduce::Codec<std::string>::read(in), ReadPastEnd);
    in = bytes.data();
    CHECK_THROWS_AS(mapreduce::Codec<std::uint64_t>::read(in), ReadPastEnd);
  }
  CHECK(mapreduce::detail::read_end == nullptr);  // restored
}

TEST_CASE("a user's write() that goes past its size() is caught in the room kept after the record") {
  ByteBuffer buf;
  ItemBlockWriter<Greedy> w(buf, 0);
  w.add(Greedy{1});  // honest
  // A size() that says 2 bytes where write() takes 8: the buffer had room for the overrun.
  struct Short {
    static std::size_t size(const Greedy&) noexcept { return 2; }
  };
  char* const at = buf.extend(Short::size(Greedy{}));
  CHECK(buf.capacity() - buf.size() >= codec_slack);
  CHECK_THROWS_WITH(write_value<Greedy>(at, Greedy{2}, 2),
                    Catch::Contains("Greedy>::write wrote 8 bytes, size() said 2"));
}
