// mapreduce-stream: map-reduce with any programs as mapper, combiner and reducer, in the
// style of Hadoop Streaming, on a mapreduce::Pool.
//
// Two jobs of one Pool. The first maps: each task starts the mapper on its chunk of input
// and turns its `key<TAB>value` lines into pairs, which the shuffle groups by key in shared
// memory (a Dataset). The second reduces: each task takes one partition, sorts it by key,
// feeds it to the reducer, and returns the reducer's output, which the parent writes out
// partition by partition as the results come (Pool::imap).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"
#include "../common/output.hpp"
#include "command.hpp"

namespace stream {
namespace {

constexpr const char* description =
    "Runs a map-reduce job whose mapper and reducer are programs, in any language.\n"
    "\n"
    "Each map task starts the mapper with its chunk of the input (whole lines) on standard\n"
    "input; the mapper writes `key<TAB>value` lines (a line without a tab is a key with an\n"
    "empty value). Each reduce task starts the reducer with one partition's lines on\n"
    "standard input, sorted by key (bytewise) so all lines of a key are adjacent, values\n"
    "in input order; the reducer's standard output is the job's output. Without --reducer\n"
    "the sorted lines themselves are the output. A combiner, if given, is run like a\n"
    "reducer on each map task's output before the shuffle. The mapper finds the path of its\n"
    "input in $MAPREDUCE_INPUT_FILE and the offset of its chunk in $MAPREDUCE_INPUT_OFFSET\n"
    "(also under Hadoop's names, $mapreduce_map_input_file and $mapreduce_map_input_start).";

constexpr const char* footer =
    "A command that exits non-zero or dies fails its task, which runs again, up to\n"
    "--max-attempts runs. Exit status: 0 on success, 2 for a usage or input error, 1 when a\n"
    "task fails for good, 130 or 143 when interrupted by SIGINT or SIGTERM.";

struct Options {
  mapreduce::PoolOptions pool;
  std::string mapper, reducer, combiner;
  bool shell = false;
  std::string output;       // empty: standard output
  bool output_dir = false;  // `output` is a directory: one file per partition
  enum class Sort { none, key, count } sort = Sort::none;
  std::size_t top = 0;
  programs::OutputFormat format = programs::OutputFormat::tsv;
  bool stats = false;
  bool verbose = false;
  cli::ProgressMode progress = cli::ProgressMode::automatic;
  std::vector<std::filesystem::path> files;
};

Options parse_args(int argc, char** argv) {
  Options o;
  o.pool.retry_exceptions = true;  // a failed command is a failed attempt, run again
  o.pool.worker_output = mapreduce::WorkerOutput::prefixed;
  std::string sort, format = "tsv";
  cli::App app("mapreduce-stream", description, footer);
  app.add_option("--mapper", o.mapper, "the map command (split into words like a shell does, run without one)")
      ->type_name("CMD")
      ->required();
  app.add_option("--reducer", o.reducer, "the reduce command (default: none, the grouped lines are the output)")
      ->type_name("CMD");
  app.add_option("--combiner", o.combiner, "a reducer run on each map task's sorted output")->type_name("CMD");
  app.add_flag("--shell", o.shell, "run the commands with /bin/sh -c instead");
  app.add_workers(o.pool.workers);
  app.add_count("-p,--partitions", o.pool.partitions, 1, 65536,
                "reduce partitions, one reducer run each (default: one per worker)")
      ->type_name("P");
  app.add_chunk_bytes(o.pool.chunk_bytes,
                      "bytes of input per map task (default: a quarter of each worker's\n"
                      "share, from 1 MiB to 64 MiB: each task starts the mapper)")
      ->type_name("B");
  app.add_count("--max-attempts", o.pool.max_attempts, 1, 1000, "runs of a task before the job fails (default: 4)");
  app.add_worker_memory(o.pool.worker_memory);
  app.add_count("--task-timeout", o.pool.task_timeout_seconds, 1, 1000000,
                "kill a task running longer than S seconds (it counts as a failed run)")
      ->type_name("S");
  CLI::Option* output = app.add_option("-o,--output", o.output,
                                       "write the output to the file PATH (default: standard output, the\n"
                                       "partitions one after the other); when PATH is a directory or ends\n"
                                       "with '/', one file per partition there: PATH/part-00000... Files\n"
                                       "appear only when the job succeeds; an old one is replaced then")
                            ->type_name("PATH");
  app.add_choice("--sort", sort, {"key", "count"},
                 "sort the whole output by key, or by numeric value descending (ties by\n"
                 "key); not with --output DIR");
  app.add_count("-n,--top", o.top, 1, UINT32_MAX, "only the first N lines of the sorted output (default order: count)");
  app.add_choice("--format", format, {"tsv", "csv", "json"},
                 "tsv (the lines as the reducer wrote them, the default), csv (with a\n"
                 "header) or json; values that are JSON numbers are written as numbers");
  app.add_flag("--stats", o.stats, "print what each phase did to standard error");
  app.add_flag("--verbose", o.verbose,
               "log each command run and its result (stderr of the commands is always\n"
               "shown, each line prefixed with its phase, worker and task)");
  app.add_progress(o.progress);
  app.add_option("FILE", o.files, "the input (- is standard input)")->type_name("");
  app.parse_command_line(argc, argv);
  if (output->count() > 0 && o.output.empty()) throw app.error("--output needs a file or a directory");
  if (!o.output.empty()) {
    std::error_code ec;
    o.output_dir = o.output.back() == '/' || std::filesystem::is_directory(o.output, ec);
  }
  if (!sort.empty()) o.sort = sort == "key" ? Options::Sort::key : Options::Sort::count;
  o.format = programs::parse_output_format(format);
  if (o.files.empty()) throw app.error("no FILE given (- reads standard input)");
  if (o.top != 0 && o.sort == Options::Sort::none) o.sort = Options::Sort::count;
  if (!o.output.empty() && !o.output_dir) {
    // Before any work: a file that cannot be created is known now, not after the job.
    const auto parent = std::filesystem::path(o.output).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      throw mapreduce::InputError(fmt::format("--output {}: {} is not a directory", o.output, parent.string()));
    }
  }
  if (o.output_dir && o.sort != Options::Sort::none) {
    throw app.error("--sort and --top order the whole output: they cannot be used with --output DIR");
  }
  // One reducer run per worker by default: each run is a process start.
  const unsigned workers = mapreduce::Pool({.workers = o.pool.workers}).workers();
  if (o.pool.partitions == 0) o.pool.partitions = workers;
  if (o.pool.chunk_bytes == 0) {
    // Each map task starts a process, so tasks are larger than for C++ mappers: about 4
    // per worker, from 1 MiB to 64 MiB each. (A file that cannot be read is reported by
    // the job, with the rest of its checks.)
    std::uint64_t total = 0;
    for (const auto& f : o.files) {
      std::error_code ec;
      const auto n = f == "-" ? 0 : std::filesystem::file_size(f, ec);
      if (!ec) total += n;
    }
    o.pool.chunk_bytes = std::clamp<std::uint64_t>(total / (4 * std::uint64_t(workers)), std::uint64_t(1) << 20,
                                                   std::uint64_t(64) << 20);
  }
  return o;
}

// A line of a command's output as a pair: the key up to the first tab, the value after it.
std::pair<std::string_view, std::string_view> split_line(std::string_view line) {
  const std::size_t tab = line.find('\t');
  if (tab == std::string_view::npos) return {line, {}};
  return {line.substr(0, tab), line.substr(tab + 1)};
}

void append_line(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  if (!value.empty()) {
    out += '\t';
    out += value;
  }
  out += '\n';
}

// Sorted by key, bytewise; a stable sort keeps each key's values in the order they came.
void sort_pairs(std::vector<std::pair<std::string_view, std::string_view>>& pairs) {
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

// Whether `v` is a number as JSON writes one (so it can be written unquoted).
bool is_json_number(std::string_view v) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    return i > from;
  };
  if (i < v.size() && v[i] == '-') ++i;
  if (i < v.size() && v[i] == '0') {
    ++i;
  } else if (i >= v.size() || v[i] < '1' || v[i] > '9' || !digits()) {
    return false;
  }
  if (i < v.size() && v[i] == '.' && (++i, !digits())) return false;
  if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
    ++i;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == v.size();
}

// Writes output lines in the format asked, a piece at a time (the partitions come one by
// one): TSV as the reducer wrote it; CSV and JSON from each line's key and value.
class OutputWriter {
 public:
  OutputWriter(std::FILE* file, std::string name, programs::OutputFormat format)
      : file_(file), name_(std::move(name)), format_(format) {
    if (format_ == programs::OutputFormat::csv) put("key,value\n");
    if (format_ == programs::OutputFormat::json) put("[");
  }
  // `lines`: whole lines, each ended by a newline.
  void write(std::string_view lines) {
    if (format_ == programs::OutputFormat::tsv) {
      put(lines);
      return;
    }
    std::string out;
    while (!lines.empty()) {
      const std::size_t nl = lines.find('\n');
      const auto [key, value] = split_line(lines.substr(0, nl));
      lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
      if (format_ == programs::OutputFormat::csv) {
        programs::append_csv_field(out, key);
        out += ',';
        programs::append_csv_field(out, value);
        out += '\n';
      } else {
        out += first_ ? "\n  {\"key\": " : ",\n  {\"key\": ";
        first_ = false;
        programs::append_json_string(out, key);
        out += ", \"value\": ";
        if (is_json_number(value)) {
          out += value;
        } else {
          programs::append_json_string(out, value);
        }
        out += '}';
      }
    }
    put(out);
  }
  void close() {
    if (format_ == programs::OutputFormat::json) put(first_ ? "]\n" : "\n]\n");
    const bool ok = file_ == stdout ? std::fflush(file_) == 0 : std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok) throw mapreduce::Error(fmt::format("{}: cannot write the output", name_));
  }
  ~OutputWriter() {
    if (file_ != nullptr && file_ != stdout) std::fclose(file_);
  }
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

 private:
  void put(std::string_view s) {
    if (s.empty()) return;  // an empty view may hold a null pointer, which fwrite may not get
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) {
      throw mapreduce::Error(fmt::format("{}: cannot write the output: {}", name_, std::strerror(errno)));
    }
  }
  std::FILE* file_;
  std::string name_;
  programs::OutputFormat format_;
  bool first_ = true;
};

// An output file, written under a hidden temporary name beside it and renamed to its own
// only by commit(), so a job that fails leaves no partial output and an old file stays
// until a new one is complete (with the old one's permissions). A path that exists and is
// not a regular file (/dev/stdout, a FIFO, a terminal) is written directly; a symbolic
// link is followed, so the file it names is the one replaced.
class PendingFile {
 public:
  explicit PendingFile(std::string path) : path_(std::move(path)) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path target = fs::exists(path_, ec) ? fs::canonical(path_, ec) : fs::path(path_);
    const auto status = fs::status(target, ec);
    direct_ = !ec && fs::exists(status) && !fs::is_regular_file(status);
    if (fs::is_regular_file(status)) mode_ = static_cast<::mode_t>(status.permissions() & fs::perms::mask);
    final_ = target.string();
    temp_ = direct_
                ? final_
                : (target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), ::getpid())).string();
    file_ = std::fopen(temp_.c_str(), direct_ ? "we" : "wbe");  // e: not inherited by the workers' commands
    if (file_ == nullptr) {
      throw mapreduce::Error(fmt::format("{}: cannot open for writing: {}", path_, std::strerror(errno)));
    }
  }
  ~PendingFile() {
    if (!committed_ && !direct_) std::remove(temp_.c_str());
  }
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  [[nodiscard]] std::FILE* file() const noexcept { return file_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // Call once the file is written and closed.
  void commit() {
    if (!direct_) {
      if (mode_ != 0) ::chmod(temp_.c_str(), mode_);
      if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
        throw mapreduce::Error(fmt::format("{}: cannot write the output: {}", path_, std::strerror(errno)));
      }
    }
    committed_ = true;
  }

 private:
  std::string path_, final_, temp_;
  std::FILE* file_ = nullptr;  // closed by the OutputWriter that writes it
  ::mode_t mode_ = 0;          // the permissions of the file replaced, if there was one
  bool direct_ = false;
  bool committed_ = false;
};

// The whole output sorted as --sort asks, then cut to --top.
std::string sorted_output(const std::vector<std::string>& parts, const Options& options) {
  struct Line {
    std::string_view key, value;
    double number;
  };
  std::vector<Line> lines;
  for (const std::string& part : parts) {
    std::string_view rest = part;
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      const auto [key, value] = split_line(rest.substr(0, nl));
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
      double number = 0;
      if (options.sort == Options::Sort::count) {
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || !std::isfinite(number)) {
          throw mapreduce::Error(fmt::format(
              "--sort count: the output line for key '{}' has the value '{}', which is not a number", key, value));
        }
      }
      lines.push_back(Line{key, value, number});
    }
  }
  auto by_key = [](const Line& a, const Line& b) { return a.key < b.key; };
  auto by_count = [](const Line& a, const Line& b) {
    if (a.number != b.number) return a.number > b.number;
    return a.key < b.key;
  };
  if (options.sort == Options::Sort::key) {
    std::stable_sort(lines.begin(), lines.end(), by_key);
  } else {
    std::stable_sort(lines.begin(), lines.end(), by_count);
  }
  if (options.top != 0 && lines.size() > options.top) lines.resize(options.top);
  std::string out;
  for (const Line& l : lines) append_line(out, l.key, l.value);
  return out;
}

void print_map_stats(const mapreduce::JobStats& s) {
  fmt::print(stderr,
             "map: input {} bytes in {} tasks; {} pairs; shared memory {} bytes, spilled {} bytes; {} retries\n"
             "map: mappers {:.3f}s ({} workers)  grouping {:.3f}s ({} workers)\n",
             s.input_bytes, s.map_tasks, s.records, s.shared_bytes, s.spilled_bytes, s.retries, s.map_seconds,
             s.map_workers, s.reduce_seconds, s.reduce_workers);
}

int run(const Options& options) {
  const Command mapper = make_command("mapper", options.mapper, options.shell);
  const std::optional<Command> combiner =
      options.combiner.empty() ? std::nullopt
                               : std::optional(make_command("combiner", options.combiner, options.shell));
  const std::optional<Command> reducer = options.reducer.empty()
                                             ? std::nullopt
                                             : std::optional(make_command("reducer", options.reducer, options.shell));
  const bool verbose = options.verbose;

  cli::ProgressLine progress(options.progress);
  mapreduce::PoolOptions pool_options = options.pool;
  pool_options.progress = [&](const mapreduce::Progress& p) {
    // The first job's reduce phase only groups the pairs: call it that.
    mapreduce::Progress named = p;
    if (std::string_view(p.phase) == "reduce") named.phase = "group";
    progress(named);
  };
  mapreduce::Pool pool(pool_options);

  // Map: the mapper's lines, through the combiner if there is one, become pairs.
  auto map_chunk = [&](std::string_view chunk, const mapreduce::ChunkSource& from,
                       mapreduce::Emitter<std::string, std::string>& emit) {
    // The mapper knows its input, as under Hadoop Streaming (whose names are set too): this
    // worker process is the commands' parent, and runs one at a time.
    const std::string path(from.path), offset = std::to_string(from.offset);
    ::setenv("MAPREDUCE_INPUT_FILE", path.c_str(), 1);
    ::setenv("MAPREDUCE_INPUT_OFFSET", offset.c_str(), 1);
    ::setenv("mapreduce_map_input_file", path.c_str(), 1);
    ::setenv("mapreduce_map_input_start", offset.c_str(), 1);
    std::string value_text;  // reused: the emitter takes the value as a std::string
    auto emit_line = [&](std::string_view line) {
      const auto [key, value] = split_line(line);
      value_text.assign(value);
      emit(key, value_text);
    };
    if (!combiner) {
      const auto lines = run_command(mapper, chunk, emit_line);
      if (verbose) fmt::print(stderr, "mapper '{}': {} bytes in, {} lines out\n", mapper.text, chunk.size(), lines);
      return;
    }
    std::string mapped;
    run_command(mapper, chunk, [&](std::string_view line) {
      mapped += line;
      mapped += '\n';
    });
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    for (std::string_view rest = mapped; !rest.empty();) {
      const std::size_t nl = rest.find('\n');
      pairs.push_back(split_line(rest.substr(0, nl)));
      rest.remove_prefix(nl + 1);
    }
    sort_pairs(pairs);
    std::string sorted;
    sorted.reserve(mapped.size());
    for (const auto& [key, value] : pairs) append_line(sorted, key, value);
    const auto lines = run_command(*combiner, sorted, emit_line);
    if (verbose) {
      fmt::print(stderr, "mapper '{}' and combiner '{}': {} bytes in, {} pairs combined to {}\n", mapper.text,
                 combiner->text, chunk.size(), pairs.size(), lines);
    }
  };
  // Shuffle: each key's values as the lines the reducer will read, in the order they came.
  auto group = [](std::string_view key, std::span<const std::string> values) {
    std::string lines;
    for (const std::string& v : values) append_line(lines, key, v);
    return lines;
  };
  const auto grouped = pool.map_reduce_dataset<std::string, std::string>(mapreduce::FileInput{options.files}, map_chunk,
                                                                         group);
  const mapreduce::JobStats map_stats = pool.last_stats();

  // Reduce: one reducer run per partition, over its lines sorted by key. Each task returns
  // the reducer's output and the number of keys it read (for --stats).
  auto reduce_partition = [&](std::size_t i) -> std::pair<std::string, std::uint64_t> {
    std::vector<std::pair<std::string, std::string>> keys;
    grouped.for_each_in_partition(
        i, [&](std::string_view key, std::string lines) { keys.emplace_back(std::string(key), std::move(lines)); });
    std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (!reducer) {
      std::string all;
      for (const auto& k : keys) all += k.second;
      return {std::move(all), keys.size()};
    }
    std::vector<std::string_view> input;
    std::size_t input_bytes = 0;
    for (const auto& k : keys) {
      input.push_back(k.second);
      input_bytes += k.second.size();
    }
    std::string output;
    const auto lines = run_command(*reducer, input, [&](std::string_view line) {
      output += line;
      output += '\n';
    });
    if (verbose) {
      fmt::print(stderr, "reducer '{}' on partition {}: {} keys, {} bytes in, {} lines out\n", reducer->text,
                 grouped.partition_id(i), keys.size(), input_bytes, lines);
    }
    return {std::move(output), keys.size()};
  };
  std::vector<std::size_t> parts(grouped.partitions());
  for (std::size_t i = 0; i < parts.size(); ++i) parts[i] = i;
  const auto reduce_start = std::chrono::steady_clock::now();
  std::uint64_t keys_total = 0;
  auto outputs = pool.imap(reduce_partition, parts,
                           {.max_pending = 2 * std::size_t(pool.workers()), .phase = "reduce"});

  if (options.output_dir) {
    // One file per partition, part-00000 to part-(P-1), empty ones too, as Hadoop writes;
    // all renamed into place once every partition is written.
    std::error_code ec;
    std::filesystem::create_directories(options.output, ec);
    if (ec)
      throw mapreduce::InputError(fmt::format("{}: cannot create the directory: {}", options.output, ec.message()));
    std::vector<std::unique_ptr<PendingFile>> files;
    auto write_part = [&](std::string_view out) {
      files.push_back(std::make_unique<PendingFile>(fmt::format("{}/part-{:05}", options.output, files.size())));
      OutputWriter writer(files.back()->file(), files.back()->path(), options.format);
      writer.write(out);
      writer.close();
    };
    std::size_t i = 0;
    for (const auto& [out, n] : outputs) {
      keys_total += n;
      const std::uint32_t p = grouped.partition_id(i++);
      while (files.size() < p) write_part({});
      write_part(out);
    }
    while (files.size() < pool.partitions()) write_part({});
    // Parts of an earlier run with more partitions would be read as this run's: remove
    // them, then rename every part into place (each rename is atomic, the set is not).
    for (std::uint32_t p = pool.partitions();; ++p) {
      const std::string stale = fmt::format("{}/part-{:05}", options.output, p);
      if (!std::filesystem::remove(stale, ec)) break;
    }
    for (auto& f : files) f->commit();
  } else {
    std::optional<PendingFile> file;
    if (!options.output.empty()) file.emplace(options.output);
    OutputWriter writer(file ? file->file() : stdout, file ? options.output : "standard output", options.format);
    if (options.sort != Options::Sort::none) {
      std::vector<std::string> all;
      for (auto& [out, n] : outputs) {
        all.push_back(std::move(out));
        keys_total += n;
      }
      progress.finish();
      writer.write(sorted_output(all, options));
    } else {
      for (const auto& [out, n] : outputs) {
        writer.write(out);
        keys_total += n;
      }
    }
    writer.close();
    if (file) file->commit();
  }
  progress.finish();
  if (options.stats) {
    print_map_stats(map_stats);
    fmt::print(stderr, "reduce: {} distinct keys in {} partitions, {:.3f}s\n", keys_total, parts.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - reduce_start).count());
  }
  return 0;
}

}  // namespace
}  // namespace stream

int main(int argc, char** argv) {
  return cli::run_main("mapreduce-stream", [&] {
    mapreduce::InterruptGuard interrupts;
    return stream::run(stream::parse_args(argc, argv));
  });
}
