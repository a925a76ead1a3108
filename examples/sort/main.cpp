// mapreduce-sort: sorts the lines of files as `LC_ALL=C sort` does (bytewise, whole line),
// with a mapreduce::Pool: a sorted job (Pool::sorted) counts each distinct line, each
// reducer sorts its range of lines, and the parent writes the ranges out in order.
//
// The count is a per-key reducer, not a combine operation: every line is shuffled, and no
// map worker keeps a table of the lines it has seen. A table pays for itself only when
// lines repeat; on distinct lines (sort's usual input, and the gensort records of
// bench/sort-bench) it was 1.1x to 3.3x slower (median 1.85x), on text whose every line occurs
// nine times 1.4x to 1.5x faster: a sort should not depend on that.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

struct Options {
  std::vector<std::string> files;
  std::string output;
  bool unique = false;
  bool reverse = false;
  bool stats = false;
  cli::ProgressMode progress = cli::ProgressMode::automatic;
  mapreduce::PoolOptions pool;
};

Options parse_args(int argc, char** argv) {
  Options o;
  cli::App app("mapreduce-sort",
               "Sorts the lines of FILEs (standard input when there is none) bytewise, as LC_ALL=C sort does, "
               "and writes them to standard output. A last line without a newline gets one.");
  app.add_option("-o,--output", o.output, "write to FILE instead of standard output (replaced when done)")
      ->type_name("FILE");
  app.add_flag("-u,--unique", o.unique, "write only the first of equal lines");
  app.add_flag("-r,--reverse", o.reverse, "sort in reverse order");
  app.add_workers(o.pool.workers);
  app.add_option_function<std::string>(
         "--memory", [&o](const std::string& v) { o.pool.shm_budget = cli::parse_size("--memory", v); },
         "memory the job's intermediate data may take (512M, 2G...); past it, runs\n"
         "spill to --tmp (default: half of the RAM or of the cgroup's limit)")
      ->type_name("SIZE");
  app.add_option("--tmp", o.pool.spill_dir, "where runs spill past --memory (default: $TMPDIR or /tmp)")
      ->type_name("DIR");
  app.add_flag("--stats", o.stats, "print the job's phases and sizes on standard error");
  app.add_progress(o.progress);
  app.add_option("FILE", o.files, "files to sort (- is standard input)");
  app.parse_command_line(argc, argv);
  if (o.files.empty()) o.files.emplace_back("-");
  return o;
}

// Where the sorted lines go: standard output, or a file written under a temporary name
// beside it and renamed over it once complete, so a failure leaves the old file as it was.
// (A FILE that is also an input is therefore safe, as with sort -o.) A path that exists and
// is not a regular file (/dev/stdout, a FIFO) is written directly.
class Output {
 public:
  explicit Output(const std::string& path) : name_(path.empty() ? "standard output" : path) {
    if (path.empty()) return;
    struct ::stat st {};
    const bool exists = ::stat(path.c_str(), &st) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
      fd_ = open_checked(path, O_WRONLY | O_CLOEXEC);
      return;
    }
    // A symbolic link is followed: the file it names is replaced, as sort -o writes through it.
    std::error_code ec;
    const std::filesystem::path p = exists ? std::filesystem::canonical(path, ec) : std::filesystem::path(path);
    final_ = p.string();
    if (exists) mode_ = st.st_mode & 07777;
    temp_ = (p.parent_path() / fmt::format(".{}.tmp-{}", p.filename().string(), ::getpid())).string();
    fd_ = open_checked(temp_, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  }
  ~Output() {
    if (fd_ > 1) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Appends a line and its newline; writes out every MiB.
  void line(std::string_view s) {
    buffer_.append(s);
    buffer_ += '\n';
    if (buffer_.size() >= (std::size_t(1) << 20)) flush();
  }
  void commit() {
    flush();
    if (temp_.empty()) return;
    if (mode_ != 0) ::fchmod(fd_, mode_);
    if (::close(std::exchange(fd_, -1)) != 0) fail();
    if (std::rename(temp_.c_str(), final_.c_str()) != 0) fail();
    temp_.clear();
  }

 private:
  int open_checked(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags, 0666);
    if (fd < 0)
      throw mapreduce::InputError(fmt::format("{}: cannot open for writing: {}", name_, std::strerror(errno)));
    return fd;
  }
  [[noreturn]] void fail() const {
    throw mapreduce::Error(fmt::format("{}: cannot write: {}", name_, std::strerror(errno)));
  }
  void flush() {
    const char* p = buffer_.data();
    std::size_t left = buffer_.size();
    while (left > 0) {
      const ::ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail();
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

  std::string name_, final_, temp_;
  int fd_ = 1;
  ::mode_t mode_ = 0;
  std::string buffer_;
};

int run(const Options& options) {
  cli::ProgressLine progress(options.progress);
  mapreduce::PoolOptions pool_options = options.pool;
  pool_options.progress = [&progress](const mapreduce::Progress& p) { progress(p); };
  mapreduce::Pool pool(pool_options);
  std::vector<std::filesystem::path> paths(options.files.begin(), options.files.end());
  // Each distinct line once, with how often it occurs: equal lines are equal bytes, so
  // writing a line n times gives what a sort of every copy would. The values carry nothing
  // but their number: one byte each.
  auto lines = pool.sorted().map_reduce_dataset<std::string, std::uint8_t>(
      mapreduce::FileInput{paths},
      [](std::string_view chunk, mapreduce::Emitter<std::string, std::uint8_t>& emit) {
        mapreduce::for_each_record(chunk, [&emit](std::string_view line) { emit(line, 1); });
      },
      mapreduce::per_key([](std::string_view, std::span<const std::uint8_t> v) { return std::uint64_t(v.size()); }));
  progress.finish();
  const auto write_start = std::chrono::steady_clock::now();
  Output out(options.output);
  const std::size_t n = lines.partitions();
  std::uint64_t distinct = 0;
  auto write = [&](std::string_view line, std::uint64_t count) {
    ++distinct;
    for (std::uint64_t i = options.unique ? count - 1 : 0; i < count; ++i) out.line(line);
  };
  if (!options.reverse) {
    lines.consume(write);  // each range's memory goes back as it is written: the output's pages reuse it
  } else {
    std::vector<std::pair<std::string_view, std::uint64_t>> range;
    for (std::size_t i = n; i-- > 0;) {
      // The range's segment is mapped only for the duration of the call: copy its lines, then
      // write them backwards.
      std::vector<std::string> owned;
      lines.for_each_in_partition(i, [&](std::string_view line, std::uint64_t count) {
        owned.emplace_back(line);
        range.emplace_back(std::string_view(), count);
      });
      for (std::size_t j = 0; j < owned.size(); ++j) range[j].first = owned[j];
      for (std::size_t j = range.size(); j-- > 0;) write(range[j].first, range[j].second);
      range.clear();
    }
  }
  out.commit();
  const double write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  if (options.stats) {
    const auto& s = pool.last_stats();
    fmt::print(stderr,
               "input {} bytes in {} tasks; {} lines, {} distinct; shared memory {} bytes, spilled {} bytes\n"
               "split {:.3f}s  sample {:.3f}s  map {:.3f}s ({} workers)  reduce {:.3f}s ({} workers)  job "
               "{:.3f}s  write {:.3f}s\n",
               s.input_bytes, s.map_tasks, s.records, distinct, s.shared_bytes, s.spilled_bytes, s.split_seconds,
               s.sample_seconds, s.map_seconds, s.map_workers, s.reduce_seconds, s.reduce_workers, s.total_seconds,
               write_seconds);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("mapreduce-sort", [&] {
    mapreduce::InterruptGuard interrupts;
    return run(parse_args(argc, argv));
  });
}
