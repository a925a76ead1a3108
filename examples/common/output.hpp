#pragma once
// Writing (key, value) results as TSV, CSV or JSON, correctly escaped for any key bytes:
// what the example programs print, so it lives with them rather than in the library.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/error.hpp>

namespace programs {

/// The output formats of the programs (and of write_pairs).
enum class OutputFormat { tsv, csv, json };

/// Parses "tsv", "csv" or "json"; throws OptionsError otherwise.
inline OutputFormat parse_output_format(std::string_view name) {
  if (name == "tsv") return OutputFormat::tsv;
  if (name == "csv") return OutputFormat::csv;
  if (name == "json") return OutputFormat::json;
  throw mapreduce::OptionsError(fmt::format("unknown format '{}' (tsv, csv or json)", name));
}

// TSV has no quoting: tab, newline, carriage return and backslash are written as \t, \n,
// \r and \\ (the convention of PostgreSQL's text format), so every line is one record.
inline void append_tsv_field(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      default: out += c;
    }
  }
}

// RFC 4180: a field with a comma, a quote, CR or LF is quoted, its quotes doubled.
inline void append_csv_field(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// The length of the valid UTF-8 sequence at s[i], or 0 if none starts there.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) {
    n = 2, cp = b & 0x1fu;
  } else if (b >= 0xe0 && b <= 0xef) {
    n = 3, cp = b & 0x0fu;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4, cp = b & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3fu);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

// A JSON string: quotes, backslashes and control characters escaped; valid UTF-8 passed
// through; a byte that is not part of valid UTF-8 (JSON text must be UTF-8) becomes U+FFFD.
inline void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == '"' || b == '\\') {
      out += '\\';
      out += static_cast<char>(b);
      ++i;
    } else if (b < 0x20) {
      out += fmt::format("\\u{:04x}", b);
      ++i;
    } else if (const std::size_t n = utf8_sequence(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD, the replacement character
      ++i;
    }
  }
  out += '"';
}

/// Appends `pairs` to `out` in `format`: TSV lines `key<TAB>value`, CSV with a header line
/// (`key_name,value_name`), or a JSON array of objects `{"key_name": ..., "value_name": ...}`.
/// Values are numbers (anything fmt formats). See the escaping rules above.
template <class K, class V>
void write_pairs(std::string& out, const std::vector<std::pair<K, V>>& pairs, OutputFormat format,
                 std::string_view key_name = "key", std::string_view value_name = "value") {
  switch (format) {
    case OutputFormat::tsv:
      for (const auto& [k, v] : pairs) {
        append_tsv_field(out, k);
        fmt::format_to(std::back_inserter(out), "\t{}\n", v);
      }
      break;
    case OutputFormat::csv:
      append_csv_field(out, key_name);
      out += ',';
      append_csv_field(out, value_name);
      out += '\n';
      for (const auto& [k, v] : pairs) {
        append_csv_field(out, k);
        fmt::format_to(std::back_inserter(out), ",{}\n", v);
      }
      break;
    case OutputFormat::json:
      out += '[';
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        out += i == 0 ? "\n  {" : ",\n  {";
        append_json_string(out, key_name);
        out += ": ";
        append_json_string(out, pairs[i].first);
        out += ", ";
        append_json_string(out, value_name);
        fmt::format_to(std::back_inserter(out), ": {}}}", pairs[i].second);
      }
      out += pairs.empty() ? "]\n" : "\n]\n";
      break;
  }
}

}  // namespace programs
