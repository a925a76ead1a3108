// How mapreduce-stream splits --mapper, --combiner and --reducer into words
// (examples/stream/shell_words.hpp): as a POSIX shell splits a simple command, and an
// error, never a guess, where a shell would wait for more input.
#include "shell_words.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

using Words = std::vector<std::string>;

namespace {
Words split(std::string_view text) { return stream::split_words("mapper", text); }
}  // namespace

TEST_CASE("blanks separate words; runs of them, and blanks at the ends, count once", "[stream][words]") {
  CHECK(split("cat") == Words{"cat"});
  CHECK(split("awk -f x.awk") == Words{"awk", "-f", "x.awk"});
  CHECK(split("  a \t b\n\nc  ") == Words{"a", "b", "c"});
}

TEST_CASE("single quotes keep everything, backslashes and double quotes included", "[stream][words]") {
  CHECK(split("grep 'a b'") == Words{"grep", "a b"});
  CHECK(split(R"('a\b' '\' 'say "hi"')") == Words{R"(a\b)", R"(\)", R"(say "hi")"});
  CHECK(split("'$HOME `x`'") == Words{"$HOME `x`"});
}

TEST_CASE("double quotes keep blanks; only \\\" \\\\ \\$ \\` are escapes in them", "[stream][words]") {
  CHECK(split(R"("a b" "c	d")") == Words{"a b", "c\td"});
  CHECK(split(R"("q\"q" "b\\s" "d\$" "t\`")") == Words{R"(q"q)", R"(b\s)", "d$", "t`"});
  // Any other backslash stays, with the character after it.
  CHECK(split(R"("a\nb" "\x" "'")") == Words{R"(a\nb)", R"(\x)", "'"});
}

TEST_CASE("a backslash outside quotes keeps the next character as it is", "[stream][words]") {
  CHECK(split(R"(a\ b)") == Words{"a b"});
  CHECK(split(R"(\'x\" \\)") == Words{R"('x")", R"(\)"});
  CHECK(split(R"(a\nb)") == Words{"anb"});
  CHECK(split("a\\\tb") == Words{"a\tb"});
  // A backslash at the very end has nothing to keep: it stays itself.
  CHECK(split(R"(echo a\)") == Words{"echo", R"(a\)"});
}

TEST_CASE("quoted and unquoted pieces next to each other make one word", "[stream][words]") {
  CHECK(split(R"(a'b c'"d e"\ f)") == Words{"ab cd e f"});
  CHECK(split(R"(--opt='x y')") == Words{"--opt=x y"});
}

TEST_CASE("empty quotes are an empty argument, kept", "[stream][words]") {
  CHECK(split("printf ''") == Words{"printf", ""});
  CHECK(split(R"(a "" b)") == Words{"a", "", "b"});
  CHECK(split(R"(x '''')") == Words{"x", ""});
}

TEST_CASE("an unterminated quote is an OptionsError naming the option and the command", "[stream][words]") {
  CHECK_THROWS_MATCHES(split("'unterminated"), mapreduce::OptionsError,
                       Catch::Message("--mapper ''unterminated': unterminated single quote"));
  CHECK_THROWS_MATCHES(split(R"(echo "a)"), mapreduce::OptionsError,
                       Catch::Message(R"(--mapper 'echo "a': unterminated double quote)"));
  // An escaped quote does not close the string.
  CHECK_THROWS_MATCHES(split(R"("a\")"), mapreduce::OptionsError,
                       Catch::Message(R"(--mapper '"a\"': unterminated double quote)"));
  CHECK_THROWS_MATCHES(stream::split_words("reducer", "'a' 'b"), mapreduce::OptionsError,
                       Catch::Message("--reducer ''a' 'b': unterminated single quote"));
}

TEST_CASE("a command with no words is an OptionsError", "[stream][words]") {
  for (const char* empty : {"", " ", "\t\n "}) {
    INFO('"' << empty << '"');
    CHECK_THROWS_MATCHES(stream::split_words("combiner", empty), mapreduce::OptionsError,
                         Catch::Message("--combiner is empty"));
  }
}
