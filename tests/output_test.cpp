// The programs' result writer (examples/common/output.hpp): its escaping, byte for byte.
#include "output.hpp"

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

using Pairs = std::vector<std::pair<std::string, int>>;

namespace {
std::string render(const Pairs& p, programs::OutputFormat f) {
  std::string out;
  programs::write_pairs(out, p, f, "word", "count");
  return out;
}
}  // namespace

TEST_CASE("TSV escapes tabs, newlines and backslashes so every line is one record", "[output]") {
  CHECK(render({{"plain", 1}, {"a\tb", 2}, {"line\nbreak\r", 3}, {"back\\slash", 4}}, programs::OutputFormat::tsv) ==
        "plain\t1\na\\tb\t2\nline\\nbreak\\r\t3\nback\\\\slash\t4\n");
}

TEST_CASE("CSV quotes fields with commas, quotes or line breaks (RFC 4180)", "[output]") {
  CHECK(render({{"plain", 1}, {"a,b", 2}, {"say \"hi\"", 3}, {"two\nlines", 4}}, programs::OutputFormat::csv) ==
        "word,count\nplain,1\n\"a,b\",2\n\"say \"\"hi\"\"\",3\n\"two\nlines\",4\n");
  CHECK(render({}, programs::OutputFormat::csv) == "word,count\n");
}

TEST_CASE("JSON escapes quotes and controls, keeps UTF-8, replaces invalid bytes", "[output]") {
  CHECK(render({{"caf\xc3\xa9", 1}, {"q\"b\\", 2}, {std::string("nul\0\x1f", 5), 3}}, programs::OutputFormat::json) ==
        "[\n  {\"word\": \"caf\xc3\xa9\", \"count\": 1},\n  {\"word\": \"q\\\"b\\\\\", \"count\": 2},\n"
        "  {\"word\": \"nul\\u0000\\u001f\", \"count\": 3}\n]\n");
  // A lone continuation byte, a truncated sequence, an overlong form and a surrogate.
  CHECK(render({{"\x80"
                 "a\xe6\x97"
                 "b\xc0\xaf"
                 "c\xed\xa0\x80",
                 1}},
               programs::OutputFormat::json) ==
        "[\n  {\"word\": \"\xef\xbf\xbd"
        "a\xef\xbf\xbd\xef\xbf\xbd"
        "b\xef\xbf\xbd\xef\xbf\xbd"
        "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\", \"count\": 1}\n]\n");
  CHECK(render({}, programs::OutputFormat::json) == "[]\n");
}

TEST_CASE("format names", "[output]") {
  CHECK(programs::parse_output_format("json") == programs::OutputFormat::json);
  CHECK_THROWS_AS(programs::parse_output_format("xml"), mapreduce::OptionsError);
}
