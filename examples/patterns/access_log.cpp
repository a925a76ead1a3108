// access_log: requests and bytes per HTTP status and per hour (UTC) from web server access
// logs in Common or Combined Log Format, such as
//   203.0.113.9 - - [10/Oct/2026:13:55:36 +0200] "GET /index.html HTTP/1.1" 200 2326 "-" "Mozilla/5.0"
//
// The pattern: log aggregation, one job over FileInput. The mapper parses the lines of its
// chunk and emits two pairs per request, ("status 200", {1, bytes}) and
// ("hour 2026-10-10T11", {1, bytes}); a line it cannot parse emits ("malformed", {1, 0})
// rather than failing the job, since one bad line in a big log is normal. The combine
// operation adds the pairs up, so each mapper sends on one total per key.
//
//   access_log [--workers N] [--chunk-bytes N] [--check] FILE...
//     --check: also parses the files in one loop; exits 1 on any difference
//   access_log --generate N FILE: writes N lines of a made-up log, the same every time
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

namespace chrono = std::chrono;

constexpr const char* description =
    "Requests and bytes per HTTP status and per hour (UTC) of Common/Combined Log Format files.\n"
    "access_log --generate N FILE writes a log to try it on instead.";

// What each key adds up. Trivially copyable, so it needs no Codec of its own.
struct Traffic {
  std::uint64_t requests = 0, bytes = 0;
  bool operator==(const Traffic&) const = default;
};
Traffic add(const Traffic& a, const Traffic& b) { return {a.requests + b.requests, a.bytes + b.bytes}; }

struct Request {
  int status = 0;
  std::uint64_t bytes = 0;  // "-" (no body) counts as 0
  chrono::sys_seconds time;
};

template <class T>
bool number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// "10/Oct/2026:13:55:36 +0200" -> the UTC time.
std::optional<chrono::sys_seconds> parse_time(std::string_view t) {
  static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0, zh = 0, zm = 0;
  if (t.size() != 26 || t[2] != '/' || t[6] != '/' || t[11] != ':' || t[14] != ':' || t[17] != ':' || t[20] != ' ' ||
      (t[21] != '+' && t[21] != '-')) {
    return std::nullopt;
  }
  const std::size_t m = months.find(t.substr(3, 3));
  if (m == std::string_view::npos || m % 3 != 0 || !number(t.substr(0, 2), d) || !number(t.substr(7, 4), y) ||
      !number(t.substr(12, 2), hh) || !number(t.substr(15, 2), mm) || !number(t.substr(18, 2), ss) ||
      !number(t.substr(22, 2), zh) || !number(t.substr(24, 2), zm)) {
    return std::nullopt;
  }
  const chrono::year_month_day date{chrono::year{y}, chrono::month{static_cast<unsigned>(m / 3 + 1)},
                                    chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok() || hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59) return std::nullopt;
  const chrono::minutes offset{(t[21] == '-' ? -1 : 1) * (zh * 60 + zm)};
  return chrono::sys_days{date} + chrono::hours{hh} + chrono::minutes{mm} + chrono::seconds{ss} - offset;
}

// host ident user [time] "request" status bytes [anything: the Combined format's referrer
// and user agent]. Anything else is malformed.
std::optional<Request> parse(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t open = line.find(" [");
  const std::size_t close = line.find("] \"", open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::nullopt;
  const auto time = parse_time(line.substr(open + 2, close - open - 2));
  std::size_t q = close + 3;  // the request line, which may hold \" escapes
  while (q < line.size() && line[q] != '"') q += line[q] == '\\' ? 2 : 1;
  if (!time || q >= line.size()) return std::nullopt;
  std::string_view rest = line.substr(q + 1);  // " 200 2326 ..."
  Request r;
  r.time = *time;
  if (rest.size() < 6 || rest[0] != ' ' || rest[4] != ' ' || !number(rest.substr(1, 3), r.status) || r.status < 100 ||
      r.status > 599) {
    return std::nullopt;
  }
  rest.remove_prefix(5);
  const std::string_view size = rest.substr(0, rest.find(' '));
  if (size != "-" && !number(size, r.bytes)) return std::nullopt;
  return r;
}

// Calls emit(key, traffic) for what one line adds: the keys of the report.
template <class Emit>
void keys_of(std::string_view line, Emit&& emit) {
  // Keys are short: format them here rather than into a new string per line.
  char buf[32];
  auto key = [&](const fmt::format_to_n_result<char*>& r) {
    return std::string_view(buf, std::min(r.size, sizeof buf));
  };
  const auto r = parse(line);
  if (!r) {
    const auto bad = fmt::format_to_n(buf, sizeof buf, "malformed");
    emit(key(bad), Traffic{1, 0});
    return;
  }
  const auto status = fmt::format_to_n(buf, sizeof buf, "status {}", r->status);
  emit(key(status), Traffic{1, r->bytes});
  const auto hour = chrono::floor<chrono::hours>(r->time);
  const auto day = chrono::floor<chrono::days>(hour);
  const chrono::year_month_day ymd{day};
  const auto h = fmt::format_to_n(buf, sizeof buf, "hour {:04}-{:02}-{:02}T{:02}", static_cast<int>(ymd.year()),
                                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                                  (hour - day).count());
  emit(key(h), Traffic{1, r->bytes});
}

void generate(std::uint64_t lines, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw mapreduce::InputError(fmt::format("cannot write {}", path));
  // Raw draws (rng() % n), each into a variable of its own: the distributions of <random>
  // and the order in which function arguments are evaluated both vary between compilers.
  std::mt19937_64 rng(2026);
  const char* pages[] = {"/",     "/index.html",   "/about",         "/products/42",      "/products/7",
                         "/cart", "/api/v1/items", "/static/app.js", "/static/style.css", "/images/logo.png"};
  const char* agents[] = {"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.4.0", "Googlebot/2.1"};
  const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Local time +0200, from 2026-10-10 00:00 on, over about two days whatever the count.
  chrono::sys_seconds local = chrono::sys_days{chrono::year{2026} / 10 / 10};
  const std::uint64_t step = 4 * 86400 / (lines + 1) + 1;  // the mean gap is step / 2
  for (std::uint64_t i = 0; i < lines; ++i) {
    local += chrono::seconds{static_cast<std::int64_t>(rng() % step)};
    if (i % 997 == 996) {  // now and then a broken line: cut short, or no log line at all
      out << (i % 2 == 0 ? "198.51.100.7 - - [10/Oct/2026:10:00:00 +0200] \"GET /trunc" : "-- log rotated --") << '\n';
      continue;
    }
    const char* net = rng() % 2 == 0 ? "203.0.113" : "198.51.100";
    const std::uint64_t host = 1 + rng() % 40;
    const char* user = rng() % 9 == 0 ? "alice" : "-";
    const char* method = rng() % 10 == 0 ? "POST" : "GET";
    const char* page = pages[rng() % 10];
    const std::uint64_t s = rng() % 100;
    const int status = s < 74 ? 200 : s < 86 ? 304 : s < 95 ? 404 : s < 97 ? 301 : 500;
    const std::uint64_t size = status == 200 ? 200 + rng() % 50000 : 150 + rng() % 400;
    const bool no_body = status == 304 || (status == 500 && size % 2 == 0);
    const char* agent = agents[rng() % 3];
    const auto day = chrono::floor<chrono::days>(local);
    const chrono::year_month_day ymd{day};
    const chrono::hh_mm_ss t{local - day};
    fmt::format_to(std::ostreambuf_iterator<char>(out),
                   "{}.{} - {} [{:02}/{}/{}:{:02}:{:02}:{:02} +0200] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\"\n", net,
                   host, user, static_cast<unsigned>(ymd.day()), months[static_cast<unsigned>(ymd.month()) - 1],
                   static_cast<int>(ymd.year()), t.hours().count(), t.minutes().count(), t.seconds().count(), method,
                   page, status, no_body ? std::string("-") : std::to_string(size), agent);
  }
  if (!out.flush()) throw mapreduce::InputError(fmt::format("cannot write {}", path));
}

using Report = std::map<std::string, Traffic>;

Report run_job(mapreduce::Pool& pool, const std::vector<std::string>& files) {
  auto result = pool.named("access log")
                    .map_reduce<std::string, Traffic>(
                        mapreduce::FileInput{{files.begin(), files.end()}},
                        [](std::string_view chunk, auto& emit) {
                          mapreduce::for_each_record(chunk, [&](std::string_view line) { keys_of(line, emit); });
                        },
                        add);             // the combine operation: runs in every mapper too, as the combiner
  return {result.begin(), result.end()};  // a std::map: sorted by key
}

// The same report in one loop over the lines, and the number of lines read.
Report serial_report(const std::vector<std::string>& files, std::uint64_t& lines) {
  Report report;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    for (std::string line; std::getline(in, line); ++lines) {
      keys_of(line, [&](std::string_view key, const Traffic& t) {
        Traffic& sum = report[std::string(key)];
        sum = add(sum, t);
      });
    }
  }
  return report;
}

void print(const Report& report) {
  fmt::print("status\trequests\tbytes\n");
  for (const auto& [key, t] : report) {
    if (key.starts_with("status ")) fmt::print("{}\t{}\t{}\n", key.substr(7), t.requests, t.bytes);
  }
  fmt::print("hour (UTC)\trequests\tbytes\n");
  for (const auto& [key, t] : report) {
    if (key.starts_with("hour ")) fmt::print("{}\t{}\t{}\n", key.substr(5), t.requests, t.bytes);
  }
  const auto bad = report.find("malformed");
  fmt::print("malformed lines\t{}\n", bad == report.end() ? 0 : bad->second.requests);
}

// The parser on lines whose meaning is known, the time zone and a day change included.
bool parser_ok() {
  auto one = [](std::string_view line) {
    std::map<std::string, Traffic> keys;
    keys_of(line, [&](std::string_view key, const Traffic& t) { keys[std::string(key)] = t; });
    return keys;
  };
  const Report malformed{{"malformed", {1, 0}}};
  return one(R"(203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326 "-" "Mozilla/5.0")") ==
             Report{{"status 200", {1, 2326}}, {"hour 2026-10-10T13", {1, 2326}}} &&
         one(R"(192.0.2.1 - frank [31/Dec/2026:23:30:00 -0130] "GET /a\"b HTTP/1.0" 304 -)") ==
             Report{{"status 304", {1, 0}}, {"hour 2027-01-01T01", {1, 0}}} &&
         one(R"(192.0.2.1 - - [31/Dec/2026:23:30:00 +0000] "GET / HTTP/1.0" 200 12x)") == malformed &&
         one(R"(192.0.2.1 - - [30/Feb/2026:23:30:00 +0000] "GET / HTTP/1.0" 200 12)") == malformed &&
         one("") == malformed;
}

bool check(const Report& report, const std::vector<std::string>& files) {
  std::uint64_t lines = 0;
  bool ok = parser_ok();
  if (!ok) fmt::print(stderr, "access_log: the parser misreads a known line\n");
  if (report != serial_report(files, lines)) {
    fmt::print(stderr, "access_log: the report differs from one loop\n");
    ok = false;
  }
  // Every line is one request or one malformed line, and every request has one status and one hour.
  Traffic statuses, hours;
  for (const auto& [key, t] : report) {
    if (key.starts_with("status ")) statuses = add(statuses, t);
    if (key.starts_with("hour ")) hours = add(hours, t);
  }
  const auto bad = report.find("malformed");
  const std::uint64_t malformed = bad == report.end() ? 0 : bad->second.requests;
  if (statuses != hours || statuses.requests + malformed != lines) {
    fmt::print(stderr, "access_log: {} requests by status, {} by hour, {} malformed, {} lines\n", statuses.requests,
               hours.requests, malformed, lines);
    ok = false;
  }
  if (ok) {
    fmt::print("check: the same report as one loop; {} lines = {} requests + {} malformed\n", lines, statuses.requests,
               malformed);
  }
  return ok;
}

int run(int argc, char** argv) {
  bool check_mode = false;
  mapreduce::PoolOptions options;
  std::vector<std::string> files;
  std::uint64_t generate_lines = 0;
  cli::App app("access_log", description);
  app.add_workers(options.workers);
  app.add_chunk_bytes(options.chunk_bytes);
  app.add_flag("--check", check_mode, "also parse the files in one loop and exit 1 on any difference");
  CLI::Option* generating = app.add_count("--generate", generate_lines, 0, std::uint64_t(1) << 40,
                                          "write N lines of a made-up access log (the same every time) to FILE");
  app.add_option("FILE", files, "the logs to read")->type_name("");
  app.parse_command_line(argc, argv);
  if (generating->count() > 0) {
    if (files.size() != 1) throw app.error("--generate N FILE: one FILE");
    generate(generate_lines, files.front());
    return 0;
  }
  if (files.empty()) throw app.error("no FILE (see --help)");
  mapreduce::Pool pool(options);  // throws OptionsError for a --workers or --chunk-bytes out of range
  const Report report = run_job(pool, files);
  print(report);
  return check_mode && !check(report, files) ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("access_log", [&] { return run(argc, argv); });
}
