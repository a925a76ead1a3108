// make_text: writes deterministic synthetic English-like text for the word-count benchmarks.
//
//   make_text OUT_FILE SIZE_BYTES [SEED]      (SEED defaults to 1)
//
// The text is exactly SIZE_BYTES long and ends with '\n' (SIZE_BYTES > 0). It is made of
// sentences (first word capitalized, a few commas, ending in '.', '?' or '!') wrapped into
// lines of at most 60-80 characters, with a blank line between paragraphs.
//
// Words are drawn from a fixed vocabulary of 500,000 distinct words with a Zipf distribution
// of exponent 1 (word of rank r has probability proportional to 1/r). The most frequent
// ranks are real English function words; the rest are made of English-looking syllables,
// short words getting the frequent ranks, as in English. The vocabulary does not depend on
// SEED; the sequence of words does.
//
// Output depends only on SEED and SIZE_BYTES, not on the standard library version: the only
// random source is std::mt19937_64 (whose output the standard fixes), all sampling is done
// here, and the Zipf table uses only IEEE-exact arithmetic (sums and divisions, no pow).
//
// 256 MiB of text holds about 41M words (6.5 bytes per word, separator included), of which
// nearly all 500k are distinct; 16 MiB holds about 300k distinct words, 1 MiB about 50k (words
// as maximal runs of letters and digits, ASCII-lowercased). Writing 1 GiB takes 10-20 s.

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "../examples/common/cli.hpp"

namespace {

constexpr std::size_t kVocabularySize = 500'000;
constexpr std::size_t kMaxWordLength = 20;
constexpr std::uint64_t kVocabularySeed = 0x5eed'0f'e4'61'15'40ULL;  // fixed: same language for every SEED

// A table laid out by hand:
// clang-format off
// Frequent English words, roughly in frequency order: ranks 1, 2, 3, ...
constexpr std::string_view kCommonWords[] = {
    "the",     "of",     "and",   "to",      "a",     "in",      "is",      "that",    "it",
    "was",     "for",    "on",    "with",    "he",    "as",      "I",       "his",     "be",
    "at",      "by",     "you",   "had",     "not",   "are",     "this",    "but",     "from",
    "or",      "have",   "they",  "which",   "one",   "her",     "she",     "all",     "we",
    "an",      "were",   "there", "been",    "their", "has",     "would",   "will",    "what",
    "if",      "can",    "when",  "so",      "no",    "said",    "who",     "more",    "about",
    "up",      "them",   "some",  "could",   "him",   "into",    "its",     "then",    "out",
    "my",      "time",   "only",  "two",     "like",  "other",   "do",      "than",    "first",
    "new",     "these",  "may",   "any",     "now",   "people",  "over",    "also",    "our",
    "me",      "after",  "very",  "made",    "most",  "your",    "did",     "many",    "before",
    "must",    "through", "back", "years",   "where", "much",    "way",     "well",    "down",
    "should",  "because", "each", "just",    "those", "how",     "too",     "little",  "state",
    "good",    "make",   "world", "still",   "own",   "see",     "men",     "work",    "long",
    "get",     "here",   "between", "both",  "life",  "being",   "under",   "never",   "day",
    "same",    "another", "know", "while",   "last",  "might",   "us",      "great",   "old",
    "year",    "off",    "come",  "since",   "against", "go",    "came",    "right",   "used",
    "take",    "three",  "house", "without", "again", "place",   "upon",    "every",   "found",
    "small",   "home",   "thought", "went",  "say",   "part",    "once",    "general", "high",
    "left",    "water",  "number", "around", "hand",  "course",  "often",   "until",   "always",
};
// clang-format on

// Syllable parts, each with a weight (how often it is picked).
struct Part {
  std::string_view text;
  unsigned weight;
};

constexpr Part kOnsets[] = {
    {"", 14},  {"b", 5},  {"c", 6},  {"d", 6},  {"f", 4},   {"g", 3},   {"h", 5},   {"j", 1},  {"k", 1},
    {"l", 6},  {"m", 6},  {"n", 5},  {"p", 5},  {"r", 6},   {"s", 7},   {"t", 8},   {"v", 2},  {"w", 3},
    {"y", 1},  {"z", 1},  {"bl", 1}, {"br", 2}, {"ch", 2},  {"cl", 1},  {"cr", 1},  {"dr", 1}, {"fl", 1},
    {"fr", 1}, {"gl", 1}, {"gr", 2}, {"pl", 1}, {"pr", 2},  {"sc", 1},  {"sh", 2},  {"sk", 1}, {"sl", 1},
    {"sm", 1}, {"sn", 1}, {"sp", 1}, {"st", 3}, {"str", 1}, {"sw", 1},  {"th", 4},  {"tr", 2}, {"tw", 1},
    {"wh", 1}, {"qu", 1}, {"ph", 1}, {"wr", 1}, {"thr", 1}, {"spr", 1}, {"scr", 1}, {"kn", 1}, {"gh", 1},
};

constexpr Part kVowels[] = {
    {"a", 14}, {"e", 16}, {"i", 12}, {"o", 12}, {"u", 6},  {"y", 1},  {"ea", 2}, {"ee", 1},
    {"ai", 1}, {"oo", 1}, {"ou", 2}, {"ie", 1}, {"oa", 1}, {"au", 1}, {"io", 1}, {"ei", 1},
};

constexpr Part kCodas[] = {
    {"", 30},  {"n", 8},  {"r", 8},   {"s", 6},  {"t", 6},  {"l", 5},  {"d", 4},  {"m", 3},
    {"ng", 2}, {"nt", 2}, {"nd", 2},  {"st", 2}, {"ck", 1}, {"ll", 2}, {"ss", 1}, {"th", 1},
    {"sh", 1}, {"ch", 1}, {"rt", 1},  {"rn", 1}, {"rd", 1}, {"ct", 1}, {"ft", 1}, {"lt", 1},
    {"mp", 1}, {"x", 1},  {"ght", 1}, {"rm", 1}, {"lk", 1}, {"nk", 1}, {"ps", 1}, {"ts", 1},
};

constexpr Part kSuffixes[] = {
    {"s", 10},   {"ed", 6},   {"ing", 6}, {"er", 5},  {"ly", 4},  {"tion", 3}, {"ness", 1},
    {"ment", 1}, {"able", 1}, {"ous", 1}, {"al", 2},  {"ive", 1}, {"ful", 1},  {"less", 1},
    {"ity", 1},  {"es", 2},   {"ers", 2}, {"ism", 1}, {"ist", 1}, {"ate", 1},  {"ish", 1},
};

// Number of syllables of a generated word, by weight: 1, 2, 3, ...
constexpr unsigned kSyllableWeights[] = {18, 44, 27, 8, 2, 1};

// Uniform integer in [0, n) from one 64-bit draw (bias < 2^-40 for the n used here).
std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) { return rng() % n; }

template <std::size_t N>
std::string_view pick(std::mt19937_64& rng, const Part (&parts)[N]) {
  unsigned total = 0;
  for (const Part& p : parts) total += p.weight;
  auto x = static_cast<unsigned>(below(rng, total));
  for (const Part& p : parts) {
    if (x < p.weight) return p.text;
    x -= p.weight;
  }
  return parts[N - 1].text;
}

std::size_t pick_index(std::mt19937_64& rng, const unsigned* weights, std::size_t n) {
  unsigned total = 0;
  for (std::size_t i = 0; i < n; ++i) total += weights[i];
  auto x = static_cast<unsigned>(below(rng, total));
  for (std::size_t i = 0; i < n; ++i) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return n - 1;
}

std::string make_word(std::mt19937_64& rng) {
  std::size_t syllables = 1 + pick_index(rng, kSyllableWeights, std::size(kSyllableWeights));
  std::string w;
  bool closed = false;  // the previous syllable ends with a consonant
  for (std::size_t s = 0; s < syllables; ++s) {
    // Only the first syllable may start with a vowel (no vowel clusters across syllables),
    // and after a closed syllable only a single consonant may follow (no "rthtl").
    std::string_view onset = pick(rng, kOnsets);
    while (s > 0 && (onset.empty() || (closed && onset.size() > 1))) onset = pick(rng, kOnsets);
    w += onset;
    w += pick(rng, kVowels);
    // Inner syllables are mostly open (ba-na-na); the last one takes a coda more often.
    std::string_view coda;
    if (s + 1 == syllables || below(rng, 3) == 0) coda = pick(rng, kCodas);
    w += coda;
    closed = !coda.empty();
  }
  if (syllables > 1 && below(rng, 3) == 0) w += pick(rng, kSuffixes);
  return w;
}

// The vocabulary, in rank order: word r is words[offset[r], offset[r] + length[r]).
struct Vocabulary {
  std::string words;
  std::vector<std::uint32_t> offset;
  std::vector<std::uint8_t> length;

  void add(std::string_view w) {
    offset.push_back(static_cast<std::uint32_t>(words.size()));
    length.push_back(static_cast<std::uint8_t>(w.size()));
    words += w;
  }
};

Vocabulary make_vocabulary() {
  std::mt19937_64 rng(kVocabularySeed);
  std::unordered_set<std::string> seen;
  seen.reserve(2 * kVocabularySize);
  for (std::string_view w : kCommonWords) {
    std::string lower(w);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    seen.insert(std::move(lower));
  }

  // Generated words with a sort key: length plus a lot of noise, so that short words tend to
  // get the frequent ranks without making all frequent words short (tuned for about 6.5 bytes
  // per word of text, separator included, as in English prose). Ties are broken by
  // generation order (stable sort), keeping it deterministic.
  struct Generated {
    std::string word;
    std::uint32_t key;
  };
  std::vector<Generated> generated;
  std::size_t wanted = kVocabularySize - std::size(kCommonWords);
  generated.reserve(wanted);
  while (generated.size() < wanted) {
    std::string w = make_word(rng);
    if (w.size() < 2 || w.size() > kMaxWordLength) continue;
    if (!seen.insert(w).second) continue;
    std::uint32_t key = static_cast<std::uint32_t>(w.size() * 8 + below(rng, 1000));
    // A few words are names, always capitalized.
    if (below(rng, 40) == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
    generated.push_back({std::move(w), key});
  }
  std::stable_sort(generated.begin(), generated.end(),
                   [](const Generated& a, const Generated& b) { return a.key < b.key; });

  Vocabulary v;
  v.words.reserve(kVocabularySize * 9);
  v.offset.reserve(kVocabularySize);
  v.length.reserve(kVocabularySize);
  for (std::string_view w : kCommonWords) v.add(w);
  for (const Generated& g : generated) v.add(g.word);
  return v;
}

// Zipf sampling by inverse CDF: threshold[r] = P(rank <= r) scaled to 2^53; a 53-bit uniform u
// picks the first r with u < threshold[r]. A guide table on the top bits of u narrows the
// binary search to a few entries.
class Zipf {
 public:
  explicit Zipf(std::size_t n) : threshold_(n), guide_((std::size_t{1} << kGuideBits) + 1) {
    std::vector<double> cumulative(n);
    double sum = 0;
    for (std::size_t r = 0; r < n; ++r) {
      sum += 1.0 / static_cast<double>(r + 1);  // exponent 1: exact IEEE division, no pow
      cumulative[r] = sum;
    }
    constexpr double kScale = 9007199254740992.0;  // 2^53
    for (std::size_t r = 0; r < n; ++r) threshold_[r] = static_cast<std::uint64_t>(cumulative[r] / sum * kScale);
    threshold_[n - 1] = kOne;
    std::size_t r = 0;
    for (std::size_t b = 0; b < guide_.size(); ++b) {
      std::uint64_t start = std::uint64_t{b} << (53 - kGuideBits);
      while (r + 1 < n && threshold_[r] <= start) ++r;
      guide_[b] = static_cast<std::uint32_t>(r);
    }
  }

  // u: uniform in [0, 2^53).
  std::size_t operator()(std::uint64_t u) const {
    std::size_t b = u >> (53 - kGuideBits);
    auto first = threshold_.begin() + guide_[b];
    auto last = threshold_.begin() + guide_[b + 1] + 1;
    return static_cast<std::size_t>(std::upper_bound(first, last, u) - threshold_.begin());
  }

 private:
  static constexpr unsigned kGuideBits = 20;
  static constexpr std::uint64_t kOne = std::uint64_t{1} << 53;
  std::vector<std::uint64_t> threshold_;
  std::vector<std::uint32_t> guide_;
};

class Output {
 public:
  Output(std::FILE* f, std::uint64_t size) : file_(f), remaining_(size), buf_(kBuffer + kSlack) {}

  bool done() const { return remaining_ == 0; }
  char* reserve() { return buf_.data() + used_; }  // room for kSlack bytes
  void commit(std::size_t n) {
    used_ += n;
    if (used_ >= kBuffer) flush_some();
  }
  // Writes what is buffered, up to the requested size; the last byte written is '\n'.
  bool finish() {
    while (used_ > 0 && remaining_ > 0) flush_some();
    return !failed_;
  }
  bool failed() const { return failed_; }

 private:
  static constexpr std::size_t kBuffer = std::size_t{1} << 20;
  static constexpr std::size_t kSlack = 256;

  void flush_some() {
    std::size_t n = used_ < remaining_ ? used_ : static_cast<std::size_t>(remaining_);
    if (n == remaining_ && n > 0) buf_[n - 1] = '\n';
    if (n > 0 && std::fwrite(buf_.data(), 1, n, file_) != n) failed_ = true;
    remaining_ -= n;
    if (remaining_ == 0 || failed_) {
      remaining_ = 0;
      used_ = 0;
      return;
    }
    std::memmove(buf_.data(), buf_.data() + n, used_ - n);
    used_ -= n;
  }

  std::FILE* file_;
  std::uint64_t remaining_;
  std::vector<char> buf_;
  std::size_t used_ = 0;
  bool failed_ = false;
};

void generate(Output& out, std::uint64_t seed) {
  const Vocabulary vocab = make_vocabulary();
  const Zipf zipf(kVocabularySize);
  std::mt19937_64 rng(seed);

  std::size_t line = 0;                     // characters on the current line
  std::size_t width = 60 + below(rng, 21);  // this line's limit, 60..80
  while (!out.done() && !out.failed()) {
    // One sentence: 3..25 words, mean about 14.
    std::uint64_t s = rng();
    std::size_t words = 3 + (s % 12) + ((s >> 8) % 12);
    std::size_t r_end = (s >> 16) % 100;
    char end = r_end < 90 ? '.' : r_end < 96 ? '?' : '!';
    bool paragraph_end = ((s >> 24) % 7) == 0;

    for (std::size_t i = 0; i < words; ++i) {
      std::uint64_t x = rng();
      std::size_t rank = zipf(x >> 11);
      std::size_t len = vocab.length[rank];
      const char* w = vocab.words.data() + vocab.offset[rank];
      char punct = 0;
      if (i + 1 == words)
        punct = end;
      else if ((x & 1023) < 70)
        punct = ',';
      std::size_t token = len + (punct ? 1 : 0);

      char* p = out.reserve();
      char* q = p;
      if (line > 0) {
        if (line + 1 + token > width) {
          *q++ = '\n';
          line = 0;
          width = 60 + below(rng, 21);
        } else {
          *q++ = ' ';
          ++line;
        }
      }
      std::memcpy(q, w, len);
      if (i == 0 && q[0] >= 'a' && q[0] <= 'z') q[0] = static_cast<char>(q[0] - 'a' + 'A');
      q += len;
      if (punct) *q++ = punct;
      line += token;
      if (i + 1 == words && paragraph_end) {
        *q++ = '\n';
        *q++ = '\n';
        line = 0;
        width = 60 + below(rng, 21);
      }
      out.commit(static_cast<std::size_t>(q - p));
      if (out.done() || out.failed()) break;
    }
  }
}

int run(int argc, char** argv) {
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t seed = 1;
  cli::App app("make_text",
               "Writes SIZE_BYTES of deterministic synthetic English-like text (Zipf-distributed\n"
               "words) to OUT_FILE, for the word-count benchmarks.");
  app.add_option("OUT_FILE", path, "the file to write")->required()->type_name("");
  app.add_count("SIZE_BYTES", size, 0, UINT64_MAX, "its exact size; the text ends with a newline")
      ->required()
      ->type_name("");
  app.add_count("SEED", seed, 0, UINT64_MAX, "the seed of the word sequence (default: 1)")->type_name("");
  app.parse_command_line(argc, argv);

  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::fprintf(stderr, "make_text: cannot open '%s' for writing: %s\n", path.c_str(), std::strerror(errno));
    return 1;
  }
  std::setvbuf(f, nullptr, _IONBF, 0);  // Output does its own 1 MiB buffering
  Output out(f, size);
  if (size > 0) generate(out, seed);
  bool ok = out.finish();
  int write_errno = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    write_errno = errno;
  }
  if (!ok) {
    std::fprintf(stderr, "make_text: cannot write '%s': %s\n", path.c_str(), std::strerror(write_errno));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("make_text", [&] { return run(argc, argv); });
}
