// crafted_keys: how much slower a combining job keyed by whole lines gets when its keys are
// made to collide in the key hash, against random keys of the same length.
//
//   crafted_keys [--lines N] [--rounds R] [-w WORKERS] DIR
//
// Writes two files to DIR, each of N distinct 48-byte lines (newline not counted):
//   random   random letters and digits;
//   crafted  bytes 16 to 23 of every line equal to the constant that the hash's long-key
//            step XORed with them before it was protected (so that the product was 0 and
//            bytes 0 to 15 were forgotten), bytes 0 to 15 distinct, the rest the same.
// Then counts the lines of each file (Pool::map_reduce, std::plus), the two jobs taking
// turns for R rounds so that a machine busy with something else slows both alike, and
// prints each round's times and the median ratio crafted / random. With the old hash the
// crafted lines all shared one hash and the ratio was about 150; it should now be near 1.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../examples/common/cli.hpp"

namespace {

constexpr std::size_t line_bytes = 48;
// The old hash_k1 (include/mapreduce/hash.hpp before its steps were protected), written
// here so that this program crafts the same lines whichever hash it is built with.
constexpr std::uint64_t old_k1 = 0xc2b2ae3d27d4eb4fULL;

// n distinct lines of line_bytes, crafted or random, each followed by '\n'.
std::string make_lines(std::size_t n, bool crafted) {
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::mt19937_64 rng(crafted ? 1 : 2);
  std::string out;
  out.reserve(n * (line_bytes + 1));
  std::string line(line_bytes, 'x');
  for (std::size_t i = 0; i < n; ++i) {
    if (crafted) {
      // Bytes 0 to 15: the line's number in letters, so lines differ only before the block.
      std::size_t rest = i;
      for (std::size_t j = 0; j < 16; ++j) {
        line[j] = alphabet[rest % 26];
        rest /= 26;
      }
      std::memcpy(line.data() + 16, &old_k1, 8);  // no '\n' among its bytes
    } else {
      // 48 random characters of 36: distinct with near certainty; the number makes it sure.
      for (auto& c : line) c = alphabet[rng() % 36];
      std::size_t rest = i;
      for (std::size_t j = 0; j < 4; ++j) {
        line[j] = alphabet[rest % 36];
        rest /= 36;
      }
    }
    out += line;
    out += '\n';
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(content.data(), 1, content.size(), f) != content.size() || std::fclose(f) != 0) {
    throw std::runtime_error(fmt::format("cannot write {}", path.string()));
  }
}

// Counts the lines of `path`; returns the seconds it took, after checking the result.
double count_lines(mapreduce::Pool& pool, const std::filesystem::path& path, std::size_t lines) {
  const auto start = std::chrono::steady_clock::now();
  const auto counts = pool.map_reduce<std::string, std::uint64_t>(
      mapreduce::FileInput{{path}},
      [](std::string_view chunk, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
        while (!chunk.empty()) {
          const auto end = chunk.find('\n');
          emit(chunk.substr(0, end), 1);
          chunk.remove_prefix(end == std::string_view::npos ? chunk.size() : end + 1);
        }
      },
      std::plus<>{});
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const bool all_once = std::all_of(counts.begin(), counts.end(), [](const auto& kv) { return kv.second == 1; });
  if (counts.size() != lines || !all_once) {
    throw std::runtime_error(fmt::format("{}: {} distinct lines counted, not {}", path.string(), counts.size(), lines));
  }
  return took.count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int run(int argc, char** argv) {
  std::size_t lines = 100000;
  unsigned rounds = 5;
  unsigned workers = 0;
  std::string dir;
  cli::App app("crafted_keys",
               "Counts N distinct 48-byte lines crafted against the old key hash and N random ones,\n"
               "in turns, and prints the times and the ratio crafted / random.");
  app.add_count("--lines", lines, 1, std::uint64_t(1) << 32, "lines per file (default: 100000)");
  app.add_count("--rounds", rounds, 1, 1000, "jobs of each kind, taking turns (default: 5)");
  app.add_workers(workers);
  app.add_option("DIR", dir, "where to write the two input files")->required()->type_name("");
  app.parse_command_line(argc, argv);

  const std::filesystem::path random_path = std::filesystem::path(dir) / "random-lines.txt";
  const std::filesystem::path crafted_path = std::filesystem::path(dir) / "crafted-lines.txt";
  write_file(random_path, make_lines(lines, false));
  write_file(crafted_path, make_lines(lines, true));

  mapreduce::Pool pool({.workers = workers});
  std::vector<double> random_s, crafted_s, ratios;
  fmt::print("{} lines of {} bytes, {} workers\nround  random_s  crafted_s  ratio\n", lines, line_bytes,
             pool.workers());
  for (unsigned r = 0; r < rounds; ++r) {
    // Alternate which goes first, so that neither always runs on a warmer machine.
    double rs, cs;
    if (r % 2 == 0) {
      rs = count_lines(pool, random_path, lines);
      cs = count_lines(pool, crafted_path, lines);
    } else {
      cs = count_lines(pool, crafted_path, lines);
      rs = count_lines(pool, random_path, lines);
    }
    random_s.push_back(rs);
    crafted_s.push_back(cs);
    ratios.push_back(cs / rs);
    fmt::print("{:5}  {:8.4f}  {:9.4f}  {:5.2f}\n", r + 1, rs, cs, cs / rs);
  }
  fmt::print("median random {:.4f} s, crafted {:.4f} s, ratio crafted/random {:.2f}\n", median(random_s),
             median(crafted_s), median(ratios));
  std::filesystem::remove(random_path);
  std::filesystem::remove(crafted_path);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("crafted_keys", [&] { return run(argc, argv); });
}
