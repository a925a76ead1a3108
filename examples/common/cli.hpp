#pragma once
// What the example programs share on the command line: usage errors, whole-number options
// and the progress line.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <mapreduce/progress.hpp>

namespace cli {

/// A bad command line: the program prints the message and its usage, and exits with 2.
struct UsageError {
  std::string message;
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

}  // namespace cli
