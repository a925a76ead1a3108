#pragma once
// How mapreduce-stream splits a command line into words, as a shell would, without running
// one. Apart from command.hpp (which needs Boost.Process) so that it is tested on its own:
// tests/stream_command_test.cpp.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/error.hpp>

namespace stream {

/// Splits `text` into words as a POSIX shell would for a simple command, without running
/// one: blanks separate words; 'single quotes' keep everything; "double quotes" keep all
/// but \" \\ \$ \` escapes; a backslash outside quotes keeps the next character.
/// Throws OptionsError on an unterminated quote or an empty command.
inline std::vector<std::string> split_words(std::string_view role, std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      word += ++i < text.size() ? text[i] : '\\';  // a backslash at the very end stays one
    } else if (c == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        throw mapreduce::OptionsError(fmt::format("--{} '{}': unterminated single quote", role, text));
      }
      word.append(text, i + 1, close - i - 1);
      i = close;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) {
          throw mapreduce::OptionsError(fmt::format("--{} '{}': unterminated double quote", role, text));
        }
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() &&
            std::string_view("\"\\$`").find(text[i + 1]) != std::string_view::npos) {
          ++i;
        }
        word += text[i];
      }
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(word);
  if (words.empty()) throw mapreduce::OptionsError(fmt::format("--{} is empty", role));
  return words;
}

}  // namespace stream
