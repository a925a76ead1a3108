// ETL: the average delivery time per order type from a CSV of orders. Fused map steps
// (records -> parsed orders -> valid orders -> partial sums) feed one reduce of partial
// aggregates; the averages come from the totals. `--check` also computes them in one loop
// and fails on any difference.
//   etl [--workers N] [--check] [FILE.csv]   (no FILE: a generated CSV of 200000 orders)
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

struct Order {
  std::string_view type;
  std::uint64_t minutes = 0;
  bool valid = false;
};

// Sum and count of delivery minutes: the partial aggregate, combined per type.
struct Totals {
  std::uint64_t minutes = 0, orders = 0;
};

// "id,type,minutes": a header, blank or malformed line is not valid.
Order parse(std::string_view line) {
  Order o;
  const auto c1 = line.find(',');
  const auto c2 = line.find(',', c1 + 1);
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) return o;
  o.type = line.substr(c1 + 1, c2 - c1 - 1);
  const auto m = line.substr(c2 + 1);
  const auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), o.minutes);
  o.valid = ec == std::errc() && end == m.data() + m.size() && !o.type.empty();
  return o;
}

std::string generate(const std::string& path) {
  std::mt19937_64 rng(42);
  const char* types[] = {"standard", "express", "bulk", "fragile", "international"};
  const int base[] = {2880, 720, 5760, 4320, 10080};
  std::ofstream f(path);
  f << "id,type,minutes\n";
  for (int i = 0; i < 200000; ++i) {
    const int t = static_cast<int>(rng() % 5);
    if (i % 997 == 0) {
      f << i << "," << types[t] << ",unknown\n";  // a bad row, to be filtered out
      continue;
    }
    f << i << "," << types[t] << "," << base[t] + static_cast<int>(rng() % 1440) << "\n";
  }
  return path;
}

int run(int argc, char** argv) {
  bool check = false;
  unsigned workers = 0;
  std::string path;
  cli::App app("etl", "The average delivery time per order type from a CSV of orders (id,type,minutes).");
  app.add_workers(workers);
  app.add_flag("--check", check, "also compute them in one loop and exit 1 on any difference");
  app.add_option("FILE.csv", path, "the orders (default: a generated CSV of 200000 orders)")->type_name("");
  app.parse_command_line(argc, argv);
  std::string generated;
  if (path.empty()) {
    char tmpl[] = "/tmp/mapreduce-etl-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw mapreduce::Error("cannot make a temporary file");
    ::close(fd);
    path = generated = generate(tmpl);
  }
  mapreduce::Pool pool({.workers = workers, .chunk_bytes = 256 << 10});
  auto mapper = mapreduce::fuse(
      mapreduce::named_step("split",
                            [](std::string_view chunk, auto&& next) { mapreduce::for_each_record(chunk, next); }),
      mapreduce::named_step("parse", mapreduce::map_step(parse)),
      mapreduce::filter_step([](const Order& o) { return o.valid; }), [](const Order& o, auto& emit) {
        emit(o.type, Totals{o.minutes, 1});
      });
  auto totals = pool.named("delivery times")
                    .map_reduce<std::string, Totals>(mapreduce::FileInput{{path}}, mapper,
                                                     [](const Totals& a, const Totals& b) {
                                                       return Totals{a.minutes + b.minutes, a.orders + b.orders};
                                                     });
  mapreduce::sort_by_key(totals);
  for (const auto& [type, t] : totals) {
    fmt::print("{}\t{:.2f} hours\t{} orders\n", type,
               static_cast<double>(t.minutes) / static_cast<double>(t.orders) / 60.0, t.orders);
  }
  int code = 0;
  if (check) {
    std::map<std::string, Totals> expected;
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
      const Order o = parse(line);
      if (!o.valid) continue;
      auto& t = expected[std::string(o.type)];
      t.minutes += o.minutes;
      ++t.orders;
    }
    bool same = expected.size() == totals.size();
    for (const auto& [type, t] : totals) {
      const auto it = expected.find(type);
      same = same && it != expected.end() && it->second.minutes == t.minutes && it->second.orders == t.orders;
    }
    std::puts(same ? "check: the same totals as one loop" : "check: the totals differ from one loop");
    code = same ? 0 : 1;
  }
  if (!generated.empty()) std::remove(generated.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("etl", [&] { return run(argc, argv); });
}
