// libFuzzer target for two pure functions that word count depends on:
//
//   * mapreduce::detail::owned_records — however a file is cut into pieces, the records
//     the pieces own must hand out every record exactly once, whole, in order;
//   * mapreduce::for_each_word — must agree with a naive reference tokenizer, and must
//     give the same words whether the text is tokenized whole or piece by piece.
//
// Input layout (all derived from the fuzz input, so libFuzzer can steer each part):
//
//   byte 0        the record delimiter for the owned_records check
//   byte 1        how many piece-size bytes follow: (byte % 8) + 1
//   next k bytes  piece sizes, each (byte % 64) + 1, repeated cyclically until the
//                 pieces cover the data; small sizes put many piece boundaries inside
//                 and next to records, which is where owned_records can go wrong
//   the rest      the file's data
//
// The data is used in place: it is the tail of libFuzzer's exactly-sized buffer, so an
// out-of-bounds read past the end of the "file" is caught by AddressSanitizer.
//
// Any violated property calls __builtin_trap(), which libFuzzer reports as a crash.

#include <mapreduce/detail/split.hpp>
#include <mapreduce/text.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// A piece [begin, end) of the file.
using Piece = std::pair<std::uint64_t, std::uint64_t>;

// Cuts [0, size) into consecutive pieces, the sizes taken from `sizes` in a cycle.
std::vector<Piece> cut(std::uint64_t size, const std::vector<std::uint64_t>& sizes) {
  std::vector<Piece> pieces;
  std::uint64_t begin = 0;
  for (std::size_t i = 0; begin < size; ++i) {
    std::uint64_t end = begin + sizes[i % sizes.size()];
    if (end > size) end = size;
    pieces.emplace_back(begin, end);
    begin = end;
  }
  return pieces;
}

// The reference tokenizer: deliberately simple, one byte at a time, no tables.
bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

std::vector<std::string> reference_words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_word_byte(c)) {
      word.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch);
    } else if (!word.empty()) {
      out.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

void append_words(std::string_view text, std::vector<std::string>& out) {
  mapreduce::for_each_word(text, [&](std::string_view w) { out.emplace_back(w); });
}

// A record starts at 0 or just after a delimiter (and only inside the file).
bool record_starts_at(const char* data, std::uint64_t size, std::uint64_t pos, char delimiter) {
  return pos < size && (pos == 0 || data[pos - 1] == delimiter);
}

// Property 1: the pieces' owned ranges, in piece order, tile [0, size) exactly, each
// starting inside its own piece, and begin and end on record boundaries.
void check_owned_records(const char* data, std::uint64_t size, const std::vector<Piece>& pieces, char delimiter) {
  std::uint64_t next = 0;  // where the next non-empty owned range must begin
  for (const auto& [begin, end] : pieces) {
    const auto [first, last] = mapreduce::detail::owned_records(data, size, begin, end, delimiter);

    bool starts_inside = false;
    for (std::uint64_t p = begin; p < end && !starts_inside; ++p) {
      starts_inside = record_starts_at(data, size, p, delimiter);
    }
    // A piece owns something exactly when a record starts inside it.
    check((first < last) == starts_inside);
    if (first >= last) continue;

    check(first == next);                                // contiguous, no overlap, no gap
    check(first >= begin && first < end);                // owned by the piece it starts in
    check(first == 0 || data[first - 1] == delimiter);   // not cut at the front
    check(last <= size);                                 // inside the file
    check(last == size || data[last - 1] == delimiter);  // not cut at the back
    next = last;
  }
  check(next == size);  // every record handed out
}

// Property 2: for_each_word matches the reference, whole and split on '\n' into records.
void check_tokenizer(const char* data, std::uint64_t size, const std::vector<Piece>& pieces) {
  const std::string_view text(data, size);
  const std::vector<std::string> expected = reference_words(text);

  std::vector<std::string> whole;
  append_words(text, whole);
  check(whole == expected);

  // '\n' separates words, so no word straddles two records, and tokenizing each piece's
  // owned records in turn must give the same words as tokenizing the whole text.
  std::vector<std::string> split;
  for (const auto& [begin, end] : pieces) {
    const auto [first, last] = mapreduce::detail::owned_records(data, size, begin, end, '\n');
    if (first < last) append_words(text.substr(first, last - first), split);
  }
  check(split == expected);
}

void check_empty_file(char delimiter) {
  static const char nothing[1] = {0};
  const auto [first, last] = mapreduce::detail::owned_records(nothing, 0, 0, 0, delimiter);
  check(first >= last);
  std::vector<std::string> words;
  append_words(std::string_view(), words);
  check(words.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t input_size) {
  if (input_size < 2) {
    check_empty_file(input_size == 1 ? static_cast<char>(input[0]) : '\n');
    return 0;
  }
  const char delimiter = static_cast<char>(input[0]);
  const std::size_t count = input[1] % 8 + 1;
  if (input_size < 2 + count) return 0;

  std::vector<std::uint64_t> sizes;
  for (std::size_t i = 0; i < count; ++i) sizes.push_back(input[2 + i] % 64 + 1);

  const char* data = reinterpret_cast<const char*>(input + 2 + count);
  const std::uint64_t size = input_size - 2 - count;

  check_empty_file(delimiter);
  const std::vector<Piece> pieces = cut(size, sizes);
  check_owned_records(data, size, pieces, delimiter);
  // The file as one piece owns all of it.
  if (size > 0) check_owned_records(data, size, {Piece{0, size}}, delimiter);
  check_tokenizer(data, size, pieces);
  return 0;
}
