// station_temperatures: the One Billion Row Challenge: the lowest, mean and highest
// temperature per weather station, from lines "name;value":
//   station_temperatures measurements.txt
//   {Abbotsford=-21.3/9.8/41.0, Århus=-30.2/8.9/44.1, ...}
//
// The pattern: records parsed into a small struct, combined. The readings of a station fold
// into a Stat (lowest, highest, sum, count), and two Stats merge by min, max and sums:
// associative and commutative, so the merge is the job's combine operation, applied in
// every worker and again across workers. Each mapper first folds its chunk's readings by
// name in a table of its own and emits one Stat per station of the chunk: a few hundred
// emits per chunk instead of one per line (--per-reading emits every reading, the plain
// form of the pattern, to compare). Temperatures are whole tenths, so the sums, and the mean
// rounded half up at the end, are exact: the output is the same for any number of workers
// and any chunk size.
//
// Malformed lines (no ';', an empty name, a temperature not in one of the forms d.d, dd.d,
// -d.d, -dd.d) are counted under a key no station can have, and reported on stderr.
//
//   station_temperatures [--workers N] [--chunk-bytes B] [--check] [--per-reading] FILE
//     --check: also computes the line in one loop with a plain parser, and exits 1 unless
//     they agree
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"
#include "station_format.hpp"

namespace {

using stations::Stat;

constexpr const char* description =
    "Prints the lowest, mean and highest temperature of each station of FILE, whose lines are\n"
    "\"name;value\" with a value from -99.9 to 99.9 and one decimal, as one line:\n"
    "{name=min/mean/max, ...} (the One Billion Row Challenge), names in bytewise order, the mean\n"
    "rounded half up. Malformed lines are skipped and counted on stderr.";

// Names end at their line's first ';', so no station is called this. Only its count means
// anything: the malformed lines of the input.
constexpr std::string_view malformed_key = ";malformed";

// A chunk's readings folded by name before they reach the library, so that a chunk of a
// million bytes (about 65 000 readings) costs a few hundred emits rather than one per
// reading: the library's emit hashes the key, copies it into a prefetch ring and calls the
// combine operation through a function pointer, which together cost more than parsing the
// line (see docs/patterns.md).
//
// Open addressing with linear probing over a power-of-two array of slots, one to a cache
// line, at most a quarter full: with make_stations' 413 stations in 4096 slots, 390 are found
// at the first probe, so that test is seldom mispredicted. A slot keeps the name's first and
// last 8 bytes (the same bytes twice below 16), so names of up to 16 bytes are compared
// without reading the text again; names are views into the chunk, valid until drain().
class ChunkTable {
 public:
  // Adds the readings of `chunk`, and returns how many of its lines are malformed. Drops what
  // an earlier chunk left, if its mapper was cut short by an exception: its names point into
  // a chunk that may be gone. A function of its own, not inlined into the mapper, so that
  // the compiler lays out this loop alone, not around the library's emit of --per-reading.
  [[gnu::noinline]] std::uint64_t fold(std::string_view chunk) {
    for (const std::uint32_t i : used_) slots_[i].hash = 0;
    used_.clear();
    text_end_ = chunk.data() + chunk.size();
    // Inlined by request: GCC would otherwise call the lambda once per reading.
    return stations::for_each_reading(
        chunk, [this](std::string_view name, int tenths) __attribute__((always_inline)) { add(name, tenths); });
  }

  // Calls f(name, stat) for each name added since fold(), and empties the table.
  template <class F>
  void drain(F&& f) {
    for (const std::uint32_t i : used_) {
      f(std::string_view(slots_[i].name, slots_[i].size), slots_[i].stat);
      slots_[i].hash = 0;
    }
    used_.clear();
  }

 private:
  struct alignas(64) Slot {
    std::uint64_t hash = 0;
    std::uint64_t head = 0, tail = 0;
    const char* name = nullptr;
    std::size_t size = 0;
    Stat stat;
  };

  // One reading: into its station's slot, or a new slot.
  [[gnu::always_inline]] inline void add(std::string_view name, int tenths) {
    using stations::detail::load8, stations::detail::load8_padded;
    const std::size_t n = name.size();
    const std::uint64_t longer = n > 8 ? ~std::uint64_t(0) : 0;
    const std::uint64_t head = load8_padded(name.data(), text_end_) &
                               (n >= 8 ? ~std::uint64_t(0) : (std::uint64_t(1) << (8 * n)) - 1);
    // Where the last 8 bytes are, as an index rather than a branch (which would be mispredicted
    // as often as names of up to 8 bytes and longer ones alternate).
    const std::uint64_t tail = load8_padded(name.data() + ((n - 8) & longer), text_end_) & longer;
    // Two multiplications by odd constants mix every byte into the high bits, which pick the
    // slot; the hash is never 0, which marks an empty slot.
    const std::uint64_t hash = (((head * 0x9e3779b97f4a7c15ULL) ^ tail ^ n) * 0xd6e8feb86659fd93ULL) | 1;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash >> shift_;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.hash == hash && s.head == head && s.tail == tail && s.size == n && same_middle(s.name, name)) [[likely]] {
        s.stat.add(tenths);
        return;
      }
      if (s.hash == 0) {
        s = Slot{hash, head, tail, name.data(), n, Stat::of(tenths)};
        used_.push_back(static_cast<std::uint32_t>(i));
        if (4 * used_.size() > slots_.size()) grow();
        return;
      }
    }
  }

  // Whether two names of the same size and the same first and last 8 bytes are equal.
  static bool same_middle(const char* a, std::string_view b) noexcept {
    if (b.size() <= 16) return true;
    return std::memcmp(a + 8, b.data() + 8, b.size() - 16) == 0;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    --shift_;
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t& u : used_) {
      std::size_t i = old[u].hash >> shift_;
      while (slots_[i].hash != 0) i = (i + 1) & mask;
      slots_[i] = old[u];
      u = static_cast<std::uint32_t>(i);
    }
  }

  const char* text_end_ = nullptr;
  std::vector<Slot> slots_ = std::vector<Slot>(4096);
  std::vector<std::uint32_t> used_;  // the occupied slots, in the order of their first reading
  int shift_ = 64 - 12;              // 2^12 slots: the hash's top 12 bits pick one
};

struct Result {
  std::string line;
  std::uint64_t malformed = 0;
};

Result run_job(mapreduce::Pool& pool, const std::string& path, bool per_reading) {
  // One table for all the chunks a worker maps (each worker has its own copy after the fork),
  // so its slots are allocated once, not once per chunk.
  ChunkTable table;
  auto mapper = [per_reading, &table](std::string_view chunk, auto& emit) {
    std::uint64_t malformed = 0;
    if (per_reading) {  // the pattern as written: the library's combiner folds every reading
      malformed = stations::for_each_reading(chunk,
                                             [&](std::string_view name, int tenths) { emit(name, Stat::of(tenths)); });
    } else {
      malformed = table.fold(chunk);
      table.drain([&](std::string_view name, const Stat& stat) { emit(name, stat); });
    }
    if (malformed != 0) emit(malformed_key, Stat{0, malformed, 0, 0});
  };
  auto pairs = pool.named("station temperatures")
                   .map_reduce<std::string, Stat>(mapreduce::FileInput{{path}}, mapper,
                                                  [](const Stat& a, const Stat& b) { return stations::merge(a, b); });
  Result result;
  std::vector<std::pair<std::string_view, Stat>> by_name;
  by_name.reserve(pairs.size());
  for (const auto& [name, stat] : pairs) {
    if (name == malformed_key) {
      result.malformed = stat.count;
    } else {
      by_name.emplace_back(name, stat);
    }
  }
  result.line = stations::result_line(std::move(by_name));
  return result;
}

// The textbook way, for --check: one loop over the lines, each parsed a character at a
// time rather than by the SWAR parser, into a std::map.
Result one_loop(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mapreduce::InputError(fmt::format("cannot read {}", path));
  std::map<std::string, Stat, std::less<>> by_name;
  Result result;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::size_t semicolon = line.find(';');
    bool ok = semicolon != std::string::npos && semicolon != 0;
    std::string_view value = ok ? std::string_view(line).substr(semicolon + 1) : std::string_view();
    const bool negative = !value.empty() && value.front() == '-';
    if (negative) value.remove_prefix(1);
    // What is left must be d.d or dd.d.
    const auto digit = [&](std::size_t i) { return value[i] >= '0' && value[i] <= '9'; };
    const std::size_t n = value.size();
    ok = ok && (n == 3 || n == 4) && value[n - 2] == '.' && digit(0) && digit(n - 1) && (n == 3 || digit(1));
    if (!ok) {
      ++result.malformed;
      continue;
    }
    int tenths = 0;
    for (const char c : value) {
      if (c != '.') tenths = tenths * 10 + (c - '0');
    }
    by_name[line.substr(0, semicolon)].add(negative ? -tenths : tenths);
  }
  std::vector<std::pair<std::string_view, Stat>> pairs(by_name.begin(), by_name.end());
  result.line = stations::result_line(std::move(pairs));
  return result;
}

int run(int argc, char** argv) {
  bool check_mode = false;
  bool per_reading = false;
  mapreduce::PoolOptions options;
  std::string path;
  cli::App app("station_temperatures", description);
  app.add_workers(options.workers);
  app.add_chunk_bytes(options.chunk_bytes);
  app.add_flag("--check", check_mode, "also compute the line in one loop, and exit 1 on a difference");
  app.add_flag("--per-reading", per_reading,
               "emit every reading to the library's combiner instead of folding each\n"
               "chunk's readings by name first (slower; the same output)");
  app.add_option("FILE", path, "lines \"name;value\" (bench/make_stations writes some)")->required()->type_name("");
  app.parse_command_line(argc, argv);
  mapreduce::Pool pool(options);  // throws OptionsError for a --workers or --chunk-bytes out of range
  const Result result = run_job(pool, path, per_reading);
  std::fwrite(result.line.data(), 1, result.line.size(), stdout);
  if (result.malformed != 0) {
    fmt::print(stderr, "station_temperatures: skipped {} malformed lines\n", result.malformed);
  }
  if (!check_mode) return 0;
  std::fflush(stdout);
  const Result expected = one_loop(path);
  if (expected.line != result.line || expected.malformed != result.malformed) {
    fmt::print(stderr, "station_temperatures: one loop gives {} malformed lines and {}", expected.malformed,
               expected.line);
    return 1;
  }
  fmt::print("check: {} malformed lines and the line agree with one loop\n", expected.malformed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("station_temperatures", [&] { return run(argc, argv); });
}
