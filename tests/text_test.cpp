#include <mapreduce/text.hpp>

#include <cstdint>
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

namespace {
// The definition, one byte at a time: what the 64-byte blocks must agree with.
V reference_words(std::string_view text) {
  V out;
  std::string w;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool lower_or_digit = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
    if (c >= 'A' && c <= 'Z') {
      w += static_cast<char>(c - 'A' + 'a');
    } else if (lower_or_digit) {
      w += ch;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}
}  // namespace

TEST_CASE("words across 64-byte blocks, long and capitalized, match the byte-at-a-time definition", "[text]") {
  // Words of 1 to 150 bytes (past a block, past the 64 bytes lower-cased in place), capitals
  // anywhere in them, texts of every length up to three blocks and at both ends of a block.
  std::uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  const std::string alphabet = "abcXYZ09\xc3\xa9\x80\xff";
  const std::string separators(" \t\n.,'-\0", 8);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const std::size_t length = next() % 200;
    while (text.size() < length) {
      const std::size_t word = (next() % 8 == 0) ? 1 + next() % 150 : 1 + next() % 12;
      for (std::size_t i = 0; i < word; ++i) text += alphabet[next() % alphabet.size()];
      const std::size_t gap = 1 + next() % 3;
      for (std::size_t i = 0; i < gap; ++i) text += separators[next() % separators.size()];
    }
    if (next() % 2 == 0 && !text.empty()) text.pop_back();  // end inside a word, sometimes
    INFO("round " << round << ", " << text.size() << " bytes");
    REQUIRE(words(text) == reference_words(text));
  }
}
