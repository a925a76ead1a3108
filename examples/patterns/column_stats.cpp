// column_stats: the count, mean and standard deviation of a numeric CSV column per value of
// another column, e.g. the temperature per city:
//   column_stats --key city --value temp weather.csv
//
// The pattern: a numeric aggregate as a combine operation. Each row becomes a one-value
// summary (count 1, mean x, M2 0), and two summaries merge with the parallel formula of
// Chan, Golub and LeVeque, exact in exact arithmetic and stable in floating point (unlike
// sum and sum of squares, which cancel badly when the spread is small against the mean).
// Since the merge is associative and commutative, it runs as the combiner in every mapper.
//
// Only the file's first line is the header. The parent reads it to find the columns; the
// mappers skip it because their ChunkSource says which chunk starts the file (offset 0).
// A copy of the header later in the file (files joined with cat) is reported as malformed,
// like any other line whose value is not a number.
//
//   column_stats --key NAME --value NAME [--workers N] [--chunk-bytes N] [--check] FILE.csv
//     --check: also computes the statistics in one loop, two passes (mean, then squared
//     deviations), and exits 1 unless they agree within a relative 1e-9
//   column_stats --generate N FILE.csv: writes N rows of made-up weather, the same every time
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

constexpr const char* description =
    "Prints key<TAB>count<TAB>mean<TAB>stddev (the sample standard deviation) sorted by key;\n"
    "fields are split at commas (no quoting); rows whose value is not a number are skipped.\n"
    "column_stats --generate N FILE.csv writes a CSV to try it on instead.";

// count values with mean `mean` and sum of squared deviations from it `m2`.
struct Summary {
  std::uint64_t count = 0;
  double mean = 0, m2 = 0;
};

// Chan et al. (1979): the summary of the union of two sets of values from theirs.
Summary merge(const Summary& a, const Summary& b) {
  if (a.count == 0) return b;
  if (b.count == 0) return a;
  const double na = static_cast<double>(a.count), nb = static_cast<double>(b.count), n = na + nb;
  const double delta = b.mean - a.mean;
  return {a.count + b.count, a.mean + delta * (nb / n), a.m2 + b.m2 + delta * delta * (na * nb / n)};
}

double stddev(std::uint64_t count, double m2) {  // the sample standard deviation
  return count < 2 ? std::nan("") : std::sqrt(m2 / static_cast<double>(count - 1));
}

// A field never holds a comma (lines are split at them), so these keys cannot clash with a
// key column's value. Only their counts mean anything.
constexpr std::string_view malformed_key = ",malformed";

struct Columns {
  std::string header;  // the first line, without its line end
  std::size_t key = 0, value = 0;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Calls f(field number, field) for each comma-separated field of `line`.
template <class F>
void for_each_field(std::string_view line, F&& f) {
  for (std::size_t i = 0;; ++i) {
    const std::size_t comma = line.find(',');
    f(i, trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    line.remove_prefix(comma + 1);
  }
}

// What one line adds: a malformed line, or (key field, value).
template <class Emit>
void row(std::string_view line, const Columns& c, Emit&& emit) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return;  // blank lines are not rows
  std::string_view key, value;
  std::size_t fields = 0;
  for_each_field(line, [&](std::size_t i, std::string_view f) {
    fields = i + 1;
    if (i == c.key) key = f;
    if (i == c.value) value = f;
  });
  double x = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), x);
  if (fields <= std::max(c.key, c.value) || ec != std::errc() || end != value.data() + value.size() || value.empty() ||
      !std::isfinite(x)) {
    emit(malformed_key, Summary{1, 0, 0});
    return;
  }
  emit(key, Summary{1, x, 0});
}

Columns read_header(const std::string& path, std::string_view key, std::string_view value) {
  std::ifstream in(path, std::ios::binary);
  Columns c;
  if (!in || !std::getline(in, c.header)) {
    throw mapreduce::InputError(fmt::format("cannot read a header from {}", path));
  }
  if (!c.header.empty() && c.header.back() == '\r') c.header.pop_back();
  bool found_key = false, found_value = false;
  for_each_field(c.header, [&](std::size_t i, std::string_view name) {
    if (name == key && !found_key) {
      c.key = i;
      found_key = true;
    }
    if (name == value && !found_value) {
      c.value = i;
      found_value = true;
    }
  });
  if (!found_key || !found_value) {
    throw mapreduce::InputError(
        fmt::format("{} has no column '{}' (its header: {})", path, found_key ? value : key, c.header));
  }
  return c;
}

void generate(std::uint64_t rows, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw mapreduce::InputError(fmt::format("cannot write {}", path));
  // Raw draws (rng() % n), one per statement: <random>'s distributions and the order of
  // evaluation of function arguments both vary between compilers.
  std::mt19937_64 rng(1979);
  struct City {
    const char* name;
    double temp;
  };
  const City cities[] = {{"Lisbon", 17.5}, {"Oslo", 6.2},     {"Cairo", 22.9}, {"Quito", 14.1},
                         {"Perth", 18.7},  {"Yakutsk", -8.8}, {"Lima", 19.4}};
  out << "station,city,day,temp,pressure_pa\n";
  for (std::uint64_t i = 0; i < rows; ++i) {
    const City& city = cities[rng() % 7];
    const std::uint64_t station = rng() % 100;
    const std::uint64_t day = 1 + rng() % 365;
    // Pressure near 101325 Pa with a spread of a few hundred: a mean large against the
    // spread, where summing squares would lose digits.
    const double pressure = 101000.0 + static_cast<double>(rng() % 65000) / 100.0;
    if (i % 499 == 498) {  // a sensor that failed now and then
      fmt::format_to(std::ostreambuf_iterator<char>(out), "st{:02},{},{},n/a,{:.2f}\n", station, city.name, day,
                     pressure);
      continue;
    }
    const double temp = city.temp + static_cast<double>(rng() % 2001) / 100.0 - 10.0;
    fmt::format_to(std::ostreambuf_iterator<char>(out), "st{:02},{},{},{:.2f},{:.2f}\n", station, city.name, day, temp,
                   pressure);
  }
  if (!out.flush()) throw mapreduce::InputError(fmt::format("cannot write {}", path));
}

using Stats = std::map<std::string, Summary>;  // sorted by key; the special keys come first

Stats run_job(mapreduce::Pool& pool, const std::string& path, const Columns& columns) {
  auto result = pool.named("column stats")
                    .map_reduce<std::string, Summary>(
                        mapreduce::FileInput{{path}},
                        [&](std::string_view chunk, const mapreduce::ChunkSource& from, auto& emit) {
                          // The header is the file's first record: skip it in the chunk at offset 0 only. A
                          // copy of it further down is a row whose value is not a number: malformed.
                          bool header = from.offset == 0;
                          mapreduce::for_each_record(chunk, [&](std::string_view line) {
                            if (!std::exchange(header, false)) row(line, columns, emit);
                          });
                        },
                        [](const Summary& a, const Summary& b) { return merge(a, b); });
  return {result.begin(), result.end()};
}

std::uint64_t count_of(const Stats& stats, std::string_view key) {
  const auto it = stats.find(std::string(key));
  return it == stats.end() ? 0 : it->second.count;
}

std::uint64_t malformed_lines(const Stats& stats) { return count_of(stats, malformed_key); }

void print(const Stats& stats) {
  fmt::print("key\tcount\tmean\tstddev\n");
  for (const auto& [key, s] : stats) {
    if (key == malformed_key) continue;
    fmt::print("{}\t{}\t{:.6f}\t{:.6f}\n", key, s.count, s.mean, stddev(s.count, s.m2));
  }
  const std::uint64_t bad = malformed_lines(stats);
  if (bad != 0) fmt::print(stderr, "column_stats: skipped {} malformed lines\n", bad);
}

// The textbook way, one loop: skip the first line, gather each key's values, then the mean
// and the sum of squared deviations from it in a second pass.
bool check(const Stats& stats, const std::string& path, const Columns& columns) {
  std::map<std::string, std::vector<double>> values;
  std::uint64_t malformed = 0;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    row(line, columns, [&](std::string_view key, const Summary& s) {
      if (key == malformed_key) {
        ++malformed;
      } else {
        values[std::string(key)].push_back(s.mean);
      }
    });
  }
  auto close = [](double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
  };
  std::size_t groups = 0;
  for (const auto& [key, s] : stats) groups += key != malformed_key ? 1 : 0;
  bool ok = groups == values.size() && malformed == malformed_lines(stats);
  if (!ok) fmt::print(stderr, "column_stats: {} keys and {} malformed lines in one loop\n", values.size(), malformed);
  for (const auto& [key, xs] : values) {
    double sum = 0, m2 = 0;
    for (const double x : xs) sum += x;
    const double mean = sum / static_cast<double>(xs.size());
    for (const double x : xs) m2 += (x - mean) * (x - mean);
    const auto it = stats.find(key);
    if (it == stats.end() || it->second.count != xs.size() || !close(it->second.mean, mean) ||
        !close(stddev(xs.size(), it->second.m2), stddev(xs.size(), m2))) {
      fmt::print(stderr, "column_stats: key '{}': {} values, mean {}, stddev {} in one loop\n", key, xs.size(), mean,
                 stddev(xs.size(), m2));
      ok = false;
    }
  }
  if (ok) fmt::print("check: {} keys agree with two passes in one loop within 1e-9\n", values.size());
  return ok;
}

int run(int argc, char** argv) {
  bool check_mode = false;
  mapreduce::PoolOptions options;
  std::string key, value, path;
  std::uint64_t generate_rows = 0;
  cli::App app("column_stats", description);
  app.add_option("--key", key, "the column to group by")->type_name("NAME");
  app.add_option("--value", value, "the column of numbers")->type_name("NAME");
  app.add_workers(options.workers);
  app.add_chunk_bytes(options.chunk_bytes);
  app.add_flag("--check", check_mode, "also compute them in one loop, two passes, and exit 1 on a difference");
  CLI::Option* generating = app.add_count("--generate", generate_rows, 0, std::uint64_t(1) << 40,
                                          "write N rows of made-up weather (the same every time) to FILE.csv");
  app.add_option("FILE.csv", path, "the CSV, its first line the column names")->type_name("");
  app.parse_command_line(argc, argv);
  if (generating->count() > 0) {
    if (path.empty()) throw app.error("--generate N FILE.csv: no FILE.csv");
    generate(generate_rows, path);
    return 0;
  }
  if (path.empty() || key.empty() || value.empty()) {
    throw app.error("need --key NAME, --value NAME and FILE.csv (see --help)");
  }
  const Columns columns = read_header(path, key, value);
  mapreduce::Pool pool(options);  // throws OptionsError for a --workers or --chunk-bytes out of range
  const Stats stats = run_job(pool, path, columns);
  print(stats);
  return check_mode && !check(stats, path, columns) ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("column_stats", [&] { return run(argc, argv); });
}
