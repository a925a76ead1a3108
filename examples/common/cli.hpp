#pragma once
// What the example programs share on the command line: usage errors, whole-number options
// and the progress line.
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <stdexcept>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <mapreduce/error.hpp>
#include <mapreduce/interrupt.hpp>
#include "output.hpp"
#include <mapreduce/progress.hpp>

namespace cli {

/// A bad command line: the program prints the message and its usage, and exits with 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `text` as a whole number in [min, max]; a UsageError naming `flag` otherwise.
inline std::uint64_t parse_count(std::string_view flag, std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    throw UsageError{fmt::format("{} takes a whole number from {} to {}, not '{}'", flag, min, max, text)};
  }
  return v;
}

/// Walks a command line: options, their values, and operands (FILE arguments: anything
/// that does not start with '-', a lone "-", and everything after "--"). "-h" and "--help"
/// print the help and exit 0.
///
///     for (cli::ArgReader args(argc, argv, usage, help); args.next();) {
///       if (args.operand()) files.emplace_back(args.arg());
///       else if (args.arg() == "--workers") workers = cli::parse_count(args.arg(), args.value(), 1, 1024);
///     }
class ArgReader {
 public:
  ArgReader(int argc, char** argv, const char* usage, const char* help) noexcept
      : argc_(argc), argv_(argv), usage_(usage), help_(help) {}
  // Moves to the next argument that is not "--"; false at the end.
  bool next() {
    for (++i_; i_ < argc_; ++i_) {
      const std::string_view a = argv_[i_];
      if (!only_operands_ && a == "--") {
        only_operands_ = true;
        continue;
      }
      if (!operand() && (a == "-h" || a == "--help")) {
        std::fputs(usage_, stdout);
        std::fputs(help_, stdout);
        std::exit(0);
      }
      return true;
    }
    return false;
  }
  [[nodiscard]] std::string_view arg() const noexcept { return argv_[i_]; }
  [[nodiscard]] bool operand() const noexcept {
    const std::string_view a = argv_[i_];
    return only_operands_ || a == "-" || !a.starts_with("-");
  }
  // The value that follows the current option; a UsageError when there is none.
  std::string_view value() {
    if (i_ + 1 >= argc_) throw UsageError(fmt::format("{} needs a value", arg()));
    return argv_[++i_];
  }

 private:
  int argc_;
  char** argv_;
  const char* usage_;
  const char* help_;
  int i_ = 0;
  bool only_operands_ = false;
};

/// The value of --format: tsv, csv or json; a UsageError naming `flag` otherwise.
inline programs::OutputFormat parse_format(std::string_view flag, std::string_view text) {
  if (text != "tsv" && text != "csv" && text != "json") {
    throw UsageError(fmt::format("{} takes tsv, csv or json, not '{}'", flag, text));
  }
  return programs::parse_output_format(text);
}

/// When the progress line shows: when standard error is a terminal, always, or never.
enum class ProgressMode { automatic, always, never };

// The progress line on standard error: phase, chunks done of total, MB/s, elapsed, ETA.
// Redrawn at most ten times a second, erased when the job ends.
class ProgressLine {
 public:
  explicit ProgressLine(ProgressMode mode)
      : shown_(mode == ProgressMode::always),
        enabled_(mode == ProgressMode::always || (mode == ProgressMode::automatic && ::isatty(2) == 1)),
        start_(std::chrono::steady_clock::now()) {}
  ~ProgressLine() { finish(); }
  // Erases the line; nothing is drawn after.
  void finish() {
    if (drawn_) std::fputs("\r\033[K", stderr);
    drawn_ = false;
    enabled_ = false;
  }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void operator()(const mapreduce::Progress& p) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (!shown_ && elapsed < 0.5) return;  // short jobs stay quiet
    const bool last = p.tasks_done == p.tasks_total;
    if (drawn_ && !last && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::string line = fmt::format("{} {}/{} chunks", p.phase, p.tasks_done, p.tasks_total);
    if (p.bytes_total > 0 && p.phase_seconds > 0) {
      const double rate = static_cast<double>(p.bytes_done) / p.phase_seconds;
      line += fmt::format("  {:.1f} MB/s", rate / 1e6);
      if (rate > 0 && !last) {
        line += fmt::format("  ETA {:.1f}s", static_cast<double>(p.bytes_total - p.bytes_done) / rate);
      }
    }
    line += fmt::format("  elapsed {:.1f}s", elapsed);
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    drawn_ = true;
  }

 private:
  bool shown_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_{};
};

/// Runs a program's body and turns what escapes it into one line on stderr, "NAME: what",
/// and the exit status: 2 for usage, input and option errors (a usage error also prints
/// `usage`, when given), 128 + the signal for an interrupted job, 1 for the rest. With
/// `speak` false (every MPI rank but one) nothing is printed.
template <class Body>
int run_main(const char* name, const char* usage, Body&& body, bool speak = true) {
  auto say = [&](std::string_view what, const char* after = "") {
    if (speak) fmt::print(stderr, "{}: {}\n{}", name, what, after);
  };
  try {
    return body();
  } catch (const mapreduce::Interrupted& e) {
    say(e.signal() == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
    return 128 + e.signal();
  } catch (const UsageError& e) {
    say(e.what(), usage != nullptr ? usage : "");
    return 2;
  } catch (const mapreduce::InputError& e) {
    say(e.what());
    return 2;
  } catch (const mapreduce::OptionsError& e) {
    say(e.what());
    return 2;
  } catch (const std::exception& e) {  // mapreduce::JobError, std::filesystem errors...
    say(e.what());
    return 1;
  }
}

}  // namespace cli
