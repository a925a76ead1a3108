#pragma once
// What the example programs share on the command line: a CLI11 App with their conventions
// (usage, --help, --version, whole-number and one-of options, errors as UsageError), the
// progress line, and run_main, which turns what a program throws into its exit status.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <mapreduce/error.hpp>
#include <mapreduce/interrupt.hpp>
#include <mapreduce/progress.hpp>
#include <mapreduce/version.hpp>

namespace cli {

/// A bad command line: run_main prints the message, then the usage if it has one, and the
/// program exits with 2.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message, std::string usage = {})
      : std::runtime_error(message), usage_(std::move(usage)) {}
  [[nodiscard]] const std::string& usage() const noexcept { return usage_; }

 private:
  std::string usage_;
};

/// --help or --version: run_main prints `text` on standard output and returns `status`. An
/// exception rather than exit(), so destructors run and wordcount-mpi still finalizes MPI.
struct EarlyExit {
  std::string text;
  int status = 0;
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

/// A size in bytes, as `text` gives it: a whole number, with K, M, G or T (powers of 1024)
/// after it or not; a UsageError otherwise: "--worker-memory takes a size such as 512M or
/// 2G, not 'lots'".
inline std::uint64_t parse_size(std::string_view flag, std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  const std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
  int shift = -1;
  if (suffix.empty()) shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  if (suffix == "M" || suffix == "m") shift = 20;
  if (suffix == "G" || suffix == "g") shift = 30;
  if (suffix == "T" || suffix == "t") shift = 40;
  if (text.empty() || ec != std::errc() || shift < 0 || v == 0 || v > (std::uint64_t(1) << (60 - shift))) {
    throw UsageError{fmt::format("{} takes a size such as 512M or 2G, not '{}'", flag, text)};
  }
  return v << shift;
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

// --help as the programs print it: the usage first, then what the program does, its
// arguments and options (CLI11's layout), and the footer.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { column_width(26); }

  // "usage: NAME [--option VALUE]... FILE...", every option named (the short usage that
  // follows a usage error is then still the whole synopsis), wrapped at 100 columns.
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::vector<std::string> items;
    for (const CLI::Option* opt : app->get_options()) {
      if (opt == app->get_help_ptr() || opt == app->get_version_ptr() || !opt->nonpositional()) continue;
      std::string item = opt->get_name();
      if (const std::string type = opt->get_type_name(); !type.empty()) item += " " + type;  // none: a flag
      items.push_back(opt->get_required() ? item : "[" + item + "]");
    }
    for (const CLI::Option* opt : app->get_options()) {
      if (!opt->nonpositional()) items.push_back(make_option_usage(opt));
    }
    const std::string lead = fmt::format("usage: {} ", name);
    std::string out = lead;
    std::size_t column = lead.size();
    for (const std::string& item : items) {
      if (column > lead.size() && column + 1 + item.size() > 100) {
        out += "\n" + std::string(lead.size(), ' ');
        column = lead.size();
      } else if (column > lead.size()) {
        out += ' ';
        ++column;
      }
      out += item;
      column += item.size();
    }
    return out + "\n";
  }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    return make_usage(app, name) + "\n" + make_description(app) + make_positionals(app) + make_groups(app, mode) +
           "\n" + make_footer(app);
  }
};

/// A program's command line: CLI11's App with what all the programs share. One definition
/// per option gives its parsing and its line in --help; `--name=value`, `--name value` and
/// `-n value` all work; an option given twice takes its last value.
///
///     cli::App app("wordcount", "Counts the words of FILEs...");
///     app.add_workers(options.workers);
///     app.add_option("FILE", files, "files to read (- is standard input)");
///     app.parse_command_line(argc, argv);
class App : public CLI::App {
 public:
  App(const std::string& name, const std::string& description, const std::string& footer_text = {})
      : CLI::App(description, name), formatter_(std::make_shared<HelpFormatter>()) {
    formatter(formatter_);
    set_help_flag("-h,--help", "show this help");
    set_version_flag("--version", fmt::format("{} (mapreduce) {}", name, mapreduce::version_string),
                     "show the version of the program and of the library");
    option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    footer(footer_text);
  }

  /// An option taking a whole number from `min` to `max` into `target`; anything else is a
  /// UsageError: "--workers takes a whole number from 1 to 1024, not 'x'".
  template <class T>
  CLI::Option* add_count(const std::string& names, T& target, std::uint64_t min, std::uint64_t max,
                         const std::string& help) {
    CLI::Option* opt = add_option(names, target, help)->type_name("N");
    // Checked before CLI11 converts the value, which would take "0x10", "-1" or "1e3" its own way.
    opt->check(CLI::Validator(
        [opt, min, max](std::string& value) {
          parse_count(opt->get_name(), value, min, max);
          return std::string();
        },
        ""));
    return opt;
  }

  /// The programs' common options, worded the same everywhere: -w/--workers (1 to 1024) and
  /// --chunk-bytes (bytes of input per map task).
  template <class T>
  CLI::Option* add_workers(T& target) {
    return add_count("-w,--workers", target, 1, 1024, "worker processes (default: the CPUs this process may use)");
  }
  template <class T>
  CLI::Option* add_chunk_bytes(T& target, const std::string& help = "bytes of input per map task (default: 1048576)") {
    return add_count("--chunk-bytes", target, 1, std::uint64_t(1) << 40, help);
  }

  /// --worker-memory SIZE: PoolOptions::worker_memory, the cap on what each worker allocates.
  CLI::Option* add_worker_memory(std::size_t& target) {
    CLI::Option* opt = add_option_function<std::string>(
        "--worker-memory", [&target](const std::string& value) { target = parse_size("--worker-memory", value); },
        "cap what each worker (and a command it runs) may allocate at SIZE\n"
        "(512M, 2G...); a task past it fails and runs again");
    opt->type_name("SIZE");
    return opt;
  }

  /// An option taking one of `choices` into `target`; anything else is a UsageError:
  /// "--sort takes count or key, not 'size'". Its value shows as "count|key".
  CLI::Option* add_choice(const std::string& names, std::string& target, const std::vector<std::string>& choices,
                          const std::string& help) {
    std::string listed, alternatives;  // "a, b or c" for the message, "a|b|c" for the help
    for (std::size_t i = 0; i < choices.size(); ++i) {
      listed += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
      alternatives += (i == 0 ? "" : "|") + choices[i];
    }
    CLI::Option* opt = add_option(names, target, help)->type_name(alternatives);
    opt->check(CLI::Validator(
        [opt, choices, listed](std::string& value) {
          if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
            throw UsageError(fmt::format("{} takes {}, not '{}'", opt->get_name(), listed, value));
          }
          return std::string();
        },
        ""));
    return opt;
  }

  /// --progress and --quiet, into `mode`; the last of them given wins.
  void add_progress(ProgressMode& mode) {
    // Run as they are parsed, not after, so their order on the command line counts.
    add_flag_callback(
        "--progress", [&mode] { mode = ProgressMode::always; },
        "show a progress line on standard error from the start (by default it\n"
        "shows when standard error is a terminal and the job passes 0.5 s)")
        ->trigger_on_parse();
    add_flag_callback(
        "--quiet", [&mode] { mode = ProgressMode::never; }, "never show the progress line")
        ->trigger_on_parse();
  }

  /// The usage lines, as --help starts.
  [[nodiscard]] std::string usage() const { return formatter_->make_usage(this, get_name()); }

  /// A UsageError that prints this program's usage after `message`.
  [[nodiscard]] UsageError error(const std::string& message) const { return UsageError(message, usage()); }

  /// Parses the command line. --help and --version throw EarlyExit; any other problem
  /// (unknown option, missing value, a value out of range) a UsageError with the usage.
  void parse_command_line(int argc, char** argv) {
    try {
      parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      throw EarlyExit{help(), 0};
    } catch (const CLI::CallForVersion& e) {
      throw EarlyExit{fmt::format("{}\n", e.what()), 0};
    } catch (const CLI::RequiredError& e) {
      // CLI11 looks for missing options before unknown ones, but "--mapper is required"
      // after `--maper cat` would hide the real mistake: the unknown option comes first.
      const std::vector<std::string> unknown = remaining();
      throw error(unknown.empty() ? e.what() : CLI::ExtrasError(get_name(), unknown).what());
    } catch (const CLI::ParseError& e) {
      throw error(e.what());
    } catch (const UsageError& e) {  // from add_count's and add_choice's checks
      throw error(e.what());
    }
  }

 private:
  std::shared_ptr<HelpFormatter> formatter_;
};

/// Runs a program's body and turns what escapes it into one line on stderr, "NAME: what",
/// and the exit status: 0 after --help or --version (printed on stdout), 2 for usage, input
/// and option errors (a usage error also prints its usage, when it has one), 128 + the
/// signal for an interrupted job, 1 for the rest. With `speak` false (every MPI rank but
/// one) nothing is printed.
template <class Body>
int run_main(const char* name, Body&& body, bool speak = true) {
  auto say = [&](std::string_view what, std::string_view after = {}) {
    if (speak) fmt::print(stderr, "{}: {}\n{}", name, what, after);
  };
  try {
    return body();
  } catch (const EarlyExit& e) {
    if (speak) std::fputs(e.text.c_str(), stdout);
    return e.status;
  } catch (const mapreduce::Interrupted& e) {
    say(e.signal() == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
    return 128 + e.signal();
  } catch (const UsageError& e) {
    say(e.what(), e.usage());
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
