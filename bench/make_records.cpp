// make_records: writes deterministic records in the shape of `gensort -a`, the ASCII records of
// the sort benchmarks (TeraSort, sortbenchmark.org), as input for bench/sort-bench.
//
//   make_records (--bytes SIZE | --records N) [--seed N] [-o FILE]
//
// A record is one line of exactly 100 bytes:
//
//   bytes  0..9    the key: 10 bytes, each uniform over the 95 printable ASCII bytes 0x20..0x7e
//   bytes 10..11   two spaces
//   bytes 12..43   the record's number, counting from 0, as 32 uppercase hex digits
//   bytes 44..45   two spaces
//   bytes 46..97   filler: 13 groups of 4 equal hex digits, group k's digit (number + k) mod 16
//   bytes 98..99   "\r\n"
//
// The key decides the order, as in the benchmark; the number makes every line distinct, so a
// sort's output says which record went where. --bytes 1G writes the whole records that fit
// in 1 GiB: 10,737,418 records, 1,073,741,800 bytes.
//
// Output depends only on --seed and the count: the keys are drawn one record after the other
// from splitmix64, written here, so the records of a smaller file are the first records of a
// larger one with the same seed. 1 GiB takes under half a second of CPU; the rest is the disk.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../examples/common/cli.hpp"
#include "output_file.hpp"

namespace {

constexpr std::size_t kRecordBytes = 100;
constexpr std::size_t kKeyBytes = 10;
constexpr std::size_t kNumberAt = 12;
constexpr std::size_t kNumberDigits = 32;
constexpr std::size_t kFillerAt = 46;
constexpr std::size_t kFillerGroups = 13;
// A multiple of the record size, so that a write never splits a record, and large enough that
// the system calls cost nothing next to the disk.
constexpr std::size_t kBufferRecords = 40'960;  // 4,096,000 bytes

constexpr char kHexDigits[] = "0123456789ABCDEF";

// Steele, Lea and Flood's SplitMix64: one 64-bit add and a bijective mix per draw, with no
// state to warm up and a result the same on every platform and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// One draw gives five key bytes as the base-95 digits of a number below 95^5. Draws at or
// above the largest multiple of 95^5 that fits in 64 bits (a chance of 4e-10) are drawn again,
// so that every key byte is exactly uniform rather than nearly so.
constexpr std::uint64_t kPrintable = 95;
constexpr std::size_t kBytesPerDraw = 5;
constexpr std::uint64_t kDrawRange = kPrintable * kPrintable * kPrintable * kPrintable * kPrintable;
constexpr std::uint64_t kDrawWaste = (UINT64_MAX % kDrawRange + 1) % kDrawRange;  // 2^64 mod 95^5
static_assert(kDrawWaste != 0);
constexpr std::uint64_t kDrawLimit = UINT64_MAX - kDrawWaste + 1;
static_assert(kKeyBytes % kBytesPerDraw == 0);

void write_key(SplitMix64& rng, char* key) {
  for (std::size_t i = 0; i < kKeyBytes; i += kBytesPerDraw) {
    std::uint64_t x = rng();
    while (x >= kDrawLimit) x = rng();
    x %= kDrawRange;
    for (std::size_t j = 0; j < kBytesPerDraw; ++j) {
      key[i + j] = static_cast<char>(' ' + x % kPrintable);
      x /= kPrintable;
    }
  }
}

void write_number(std::uint64_t number, char* record) {
  char* digits = record + kNumberAt;
  std::memset(digits, '0', kNumberDigits);
  for (std::size_t i = kNumberDigits; number != 0; number >>= 4) digits[--i] = kHexDigits[number & 15];
}

void write_filler(std::uint64_t number, char* record) {
  for (std::size_t k = 0; k < kFillerGroups; ++k) {
    std::memset(record + kFillerAt + 4 * k, kHexDigits[(number + k) & 15], 4);
  }
}

// Writes `count` records to `out`; false, with errno set, when a write fails.
bool write_records(std::FILE* out, std::uint64_t count, std::uint64_t seed) {
  std::vector<char> buffer(kBufferRecords * kRecordBytes);
  // The separators and line ends never change: laid out once, then each record overwrites
  // its key, number and filler in place.
  for (std::size_t r = 0; r < kBufferRecords; ++r) {
    char* record = buffer.data() + r * kRecordBytes;
    std::memcpy(record + kKeyBytes, "  ", 2);
    std::memcpy(record + kNumberAt + kNumberDigits, "  ", 2);
    std::memcpy(record + kRecordBytes - 2, "\r\n", 2);
  }
  SplitMix64 rng(seed);
  for (std::uint64_t number = 0; number < count;) {
    const std::uint64_t left = count - number;
    const std::size_t batch = left < kBufferRecords ? static_cast<std::size_t>(left) : kBufferRecords;
    for (std::size_t r = 0; r < batch; ++r, ++number) {
      char* record = buffer.data() + r * kRecordBytes;
      write_key(rng, record);
      write_number(number, record);
      write_filler(number, record);
    }
    const std::size_t bytes = batch * kRecordBytes;
    if (std::fwrite(buffer.data(), 1, bytes, out) != bytes) return false;
  }
  return true;
}

int run(int argc, char** argv) {
  std::uint64_t count = 0;
  std::uint64_t seed = 1;
  std::string path = "-";
  cli::App app("make_records",
               "Writes deterministic 100-byte records in the shape of `gensort -a` (a 10-byte key of\n"
               "random printable ASCII, the record's number in hex, filler, \"\\r\\n\"), for the sort\n"
               "benchmarks.");
  CLI::Option* bytes = app.add_option_function<std::string>(
      "--bytes", [&count](const std::string& value) { count = cli::parse_size("--bytes", value) / kRecordBytes; },
      "write the whole records that fit in SIZE bytes (100M, 1G...)");
  bytes->type_name("SIZE");
  CLI::Option* records = app.add_count("--records", count, 0, UINT64_MAX / kRecordBytes, "write N records");
  bytes->excludes(records);
  app.add_count("--seed", seed, 0, UINT64_MAX, "the seed of the keys (default: 1)");
  app.add_option("-o,--output", path, "write there instead of standard output")->type_name("FILE");
  app.parse_command_line(argc, argv);
  if (bytes->count() == 0 && records->count() == 0) throw app.error("--bytes or --records is required");

  return bench::write_output("make_records", path, [&](std::FILE* f) { return write_records(f, count, seed); });
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("make_records", [&] { return run(argc, argv); });
}
