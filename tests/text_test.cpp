#include <mapreduce/text.hpp>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  mapreduce::for_each_word(text, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}
using V = std::vector<std::string>;
}  // namespace

TEST_CASE("words are runs of ASCII letters and digits, lower-cased", "[text]") {
  CHECK(words("Hello, wORLD 42") == V{"hello", "world", "42"});
  CHECK(words("don't stop_me-now") == V{"don", "t", "stop", "me", "now"});
  CHECK(words("abc123DEF") == V{"abc123def"});
  CHECK(words("") == V{});
  CHECK(words(" \t\n.,;!?") == V{});
  CHECK(words("edge") == V{"edge"});
  CHECK(words("  lead and trail  ") == V{"lead", "and", "trail"});
}

TEST_CASE("bytes of 0x80 and above are word bytes, so UTF-8 words stay whole", "[text]") {
  CHECK(words("Na\xc3\xafve caf\xc3\xa9!") == V{"na\xc3\xafve", "caf\xc3\xa9"});
  CHECK(words("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e") == V{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"});
  CHECK(words("\xff\xfe x") == V{"\xff\xfe", "x"});  // invalid UTF-8 passes as bytes
  // Non-ASCII upper case is left alone: only ASCII letters are lower-cased.
  CHECK(words("\xc3\x89T\xc3\x89") == V{"\xc3\x89t\xc3\x89"});
}

TEST_CASE("NUL and other control bytes separate words", "[text]") {
  CHECK(words(std::string_view("a\0b\x01"
                               "c\x7f"
                               "d",
                               8)) == V{"a", "b", "c", "d"});
}
