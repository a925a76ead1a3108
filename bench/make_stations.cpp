// make_stations: writes deterministic weather readings in the shape of the One Billion Row
// Challenge, "name;value" lines, as input for station_temperatures and bench/brc-bench.
//
//   make_stations --rows N [--seed N] [-o FILE]
//
// 413 made-up stations: two dozen written out here, 3 to 38 bytes (several in UTF-8 beyond
// ASCII: Latin letters with accents, Cyrillic, CJK), the rest built from syllables, 4 to 22
// bytes; 44 are over 15 bytes. Each has a mean temperature, drawn once, from -15.0
// to 30.0. Each row picks a station uniformly and a temperature around its mean with a
// standard deviation of 10.0, clamped to [-99.9, 99.9], printed with one decimal.
//
// Output depends only on --seed and --rows: the draws come from std::mt19937_64, whose
// sequence the C++ standard fixes, through this file's own uniform and bell-shaped draws
// (not <random>'s distributions, which differ between standard libraries), in integer
// arithmetic. The rows of a smaller file are the first rows of a larger one with the same
// seed. 100 M rows (about 1.5 GB) take a few seconds of CPU.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../examples/common/cli.hpp"
#include "output_file.hpp"

namespace {

constexpr std::size_t kStations = 413;
constexpr std::size_t kBufferBytes = std::size_t(1) << 20;
constexpr std::size_t kLongestRow = 128;  // a name of at most 100 bytes, ';', "-dd.d\n"

// A number uniform in [0, n), exactly: Lemire's multiply-and-shift, drawing again in the
// rare case that would favour some results (a chance of n / 2^64).
std::uint64_t uniform(std::mt19937_64& rng, std::uint64_t n) {
  __extension__ using u128 = unsigned __int128;
  u128 m = static_cast<u128>(rng()) * n;
  if (static_cast<std::uint64_t>(m) < n) {
    const std::uint64_t threshold = (0 - n) % n;
    while (static_cast<std::uint64_t>(m) < threshold) m = static_cast<u128>(rng()) * n;
  }
  return static_cast<std::uint64_t>(m >> 64);
}

// A bell-shaped draw with mean 0 and standard deviation `stddev_tenths`, in tenths: the sum
// of twelve uniform 16-bit numbers (three 64-bit draws), whose mean is 12 * 32767.5 and
// whose standard deviation is 65536, centered, scaled and rounded in integers. The sum of
// twelve uniforms is the classic stand-in for a normal draw: close to it in shape, though it
// never strays past six standard deviations.
std::int64_t bell_tenths(std::mt19937_64& rng, std::int64_t stddev_tenths) {
  std::int64_t sum = 0;
  for (int draw = 0; draw < 3; ++draw) {
    const std::uint64_t x = rng();
    sum += static_cast<std::int64_t>((x & 0xffff) + ((x >> 16) & 0xffff) + ((x >> 32) & 0xffff) + (x >> 48));
  }
  const std::int64_t centered2 = 2 * sum - 12 * 65535;  // twice (sum - mean): an integer
  // round(centered2 / 2 * stddev / 65536), halves up: an arithmetic shift is a floor.
  return (centered2 * stddev_tenths + 65536) >> 17;
}

// Stations whose names are written out: the edge cases of a parser and a hash table.
const char* const kWrittenNames[] = {
    "Ørnvikhavn",       // Latin with a letter beyond ASCII
    "Søndre Kvålsund",  // 17 bytes: past the 15 a key slot holds
    "Brüggenau am Wald",
    "Santa Niñeira",
    "Lévorsac-les-Prés",
    "Çalıkoru Köprüsü",
    "Тихозёрск-на-Вилге",  // Cyrillic: two bytes a letter, 34 in all
    "Здравоград",
    "Верхние Сосняки",
    "白石湾",  // CJK: three bytes a character
    "北风岭气象站",
    "青霞川",  // 9 bytes
    "Oda",     // 3 bytes, the shortest
    "Vik",
    "Port Anselm",
    "Mount Ferrow",
    "Kestrel Point",
    "Upper Dunmarsh",  // 14 bytes
    "Saint-Orvel-de-la-Brume",
    "Twelve Oaks Crossing",
    "Greyhaven Lighthouse",
    "Quillbrook-under-Fell Research Station",  // 38 bytes, the longest
    "Cwmdarrow Llyn",
    "Ærøby Strand",
};

// The rest: two or three syllables, some with a suffix, capitalized when they start with
// an ASCII letter; drawn from the same generator before the rows, until 413 are distinct.
std::vector<std::string> station_names(std::mt19937_64& rng) {
  static const char* const syllables[] = {
      "ka",  "lo",  "mar", "ve",  "tin", "sa",  "ber", "go",  "ri",  "nu", "dal", "fen", "hol", "is",
      "jor", "kel", "lun", "mo",  "nor", "pe",  "ros", "sul", "tor", "ul", "vik", "wen", "yar", "zel",
      "bri", "cas", "dor", "el",  "fal", "gar", "hen", "ja",  "kor", "li", "mé",  "sø",  "mü",  "ña",
      "lå",  "çe",  "dö",  "thu", "an",  "ost", "ren", "bay", "qua", "ox", "sin", "tal", "ver", "wyn"};
  static const char* const suffixes[] = {" Falls",    " Crossing", " Harbour", " Junction", "-on-Sea",        " North",
                                         " Airfield", " Valley",   " Pass",    " Springs",  " Upper Meadows", " Bay"};
  std::vector<std::string> names(std::begin(kWrittenNames), std::end(kWrittenNames));
  std::set<std::string> seen(names.begin(), names.end());
  while (names.size() < kStations) {
    std::string name;
    const std::uint64_t parts = 2 + uniform(rng, 2);
    for (std::uint64_t i = 0; i < parts; ++i) name += syllables[uniform(rng, std::size(syllables))];
    if (name[0] >= 'a' && name[0] <= 'z') name[0] = static_cast<char>(name[0] - 'a' + 'A');
    if (uniform(rng, 10) < 3) name += suffixes[uniform(rng, std::size(suffixes))];
    if (name.size() >= 3 && seen.insert(name).second) names.push_back(std::move(name));
  }
  return names;
}

struct Station {
  std::string prefix;  // "name;"
  std::int64_t mean_tenths;
};

// Writes "-dd.d\n" and the like for `tenths` in [-999, 999] at `out`; returns the end.
char* write_tenths(char* out, std::int64_t tenths) {
  if (tenths < 0) {
    *out++ = '-';
    tenths = -tenths;
  }
  if (tenths >= 100) *out++ = static_cast<char>('0' + tenths / 100);
  *out++ = static_cast<char>('0' + tenths / 10 % 10);
  *out++ = '.';
  *out++ = static_cast<char>('0' + tenths % 10);
  *out++ = '\n';
  return out;
}

// Writes `rows` rows to `out`; false, with errno set, when a write fails.
bool write_rows(std::FILE* out, std::uint64_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Station> stations;
  for (std::string& name : station_names(rng)) stations.push_back({std::move(name) + ";", 0});
  for (Station& s : stations) s.mean_tenths = -150 + static_cast<std::int64_t>(uniform(rng, 451));
  std::vector<char> buffer(kBufferBytes);
  char* const full = buffer.data() + kBufferBytes - kLongestRow;
  char* cursor = buffer.data();
  for (std::uint64_t row = 0; row < rows; ++row) {
    const Station& s = stations[uniform(rng, kStations)];
    std::int64_t tenths = s.mean_tenths + bell_tenths(rng, 100);
    tenths = tenths < -999 ? -999 : tenths > 999 ? 999 : tenths;
    std::memcpy(cursor, s.prefix.data(), s.prefix.size());
    cursor = write_tenths(cursor + s.prefix.size(), tenths);
    if (cursor >= full) {
      const auto bytes = static_cast<std::size_t>(cursor - buffer.data());
      if (std::fwrite(buffer.data(), 1, bytes, out) != bytes) return false;
      cursor = buffer.data();
    }
  }
  const auto bytes = static_cast<std::size_t>(cursor - buffer.data());
  return std::fwrite(buffer.data(), 1, bytes, out) == bytes;
}

int run(int argc, char** argv) {
  std::uint64_t rows = 0;
  std::uint64_t seed = 1;
  std::string path = "-";
  cli::App app("make_stations",
               "Writes deterministic weather readings, \"name;value\" lines of 413 made-up stations\n"
               "(the One Billion Row Challenge's input), for station_temperatures and bench/brc-bench.");
  app.add_count("--rows", rows, 0, UINT64_MAX, "write N rows")->required();
  app.add_count("--seed", seed, 0, UINT64_MAX, "the seed of the draws (default: 1)");
  app.add_option("-o,--output", path, "write there instead of standard output")->type_name("FILE");
  app.parse_command_line(argc, argv);

  return bench::write_output("make_stations", path, [&](std::FILE* f) { return write_rows(f, rows, seed); });
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("make_stations", [&] { return run(argc, argv); });
}
