// groupby: group-by jobs with no combiner (every pair goes through the shuffle) as whole
// programs, three ways, to time process for process (bench/shuffle-bench):
//
//   pool   the library: worker processes, runs in shared memory;
//   radix  what a competent engineer writes with threads: fixed-size records (16 bytes,
//          24 with a value) partitioned by hash into per-thread buffers, each partition
//          radix-sorted and grouped;
//   sort   the naive threaded version: (hash, std::string, value) per pair, std::sort.
//
// Every job keys the words of FILE (mapreduce::for_each_word, lower-cased):
//   count   word -> its occurrences;
//   median  word -> the lower median of the byte lengths of the lines it occurs on;
//   index   word -> the sorted distinct ids of the 64 KiB blocks (cut at newlines) it occurs in.
//
//   groupby --engine radix --job median --workers 2 FILE
//   -> keys=N pairs=N digest=16 hex digits, the same for every engine and worker count
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/mapreduce.hpp>

#include "../examples/common/cli.hpp"
#include "baselines.hpp"

namespace {

constexpr std::size_t piece_bytes = std::size_t(1) << 20;  // a map task of count and median, as the Pool's chunks
constexpr std::size_t doc_bytes = std::size_t(64) << 10;   // a document of the index job

// What a job maps and how it reduces, shared by the three engines so that they differ in
// the shuffle alone. A mapper calls emit(word, value) with a 32-bit value; reduce(n, values)
// gets a key's n values (`values` is empty when the job does not need them).

struct Count {
  using Value = std::uint64_t;
  static constexpr bool by_doc = false;
  static constexpr bool needs_values = false;
  template <class Emit>
  static void map(std::string_view text, std::uint32_t /*doc*/, Emit&& emit) {
    mapreduce::for_each_word(text, [&](std::string_view w) { emit(w, std::uint32_t{1}); });
  }
  static Value reduce(std::size_t n, std::span<std::uint32_t> /*values*/) { return n; }
  static std::uint64_t digest(Value v) { return v; }
  static void format(fmt::memory_buffer& out, Value v) { fmt::format_to(std::back_inserter(out), "{}", v); }
};

struct Median {
  using Value = std::uint32_t;
  static constexpr bool by_doc = false;
  static constexpr bool needs_values = true;
  // Each line on its own: the value is its length (without the newline), and any chunking
  // at newlines (1 MiB pieces, the Pool's chunks) sees the same lines.
  template <class Emit>
  static void map(std::string_view text, std::uint32_t /*doc*/, Emit&& emit) {
    while (!text.empty()) {
      const auto* nl = static_cast<const char*>(std::memchr(text.data(), '\n', text.size()));
      const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - text.data()) : text.size();
      const auto length = static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
      mapreduce::for_each_word(text.substr(0, n), [&](std::string_view w) { emit(w, length); });
      text.remove_prefix(nl != nullptr ? n + 1 : n);
    }
  }
  static Value reduce(std::size_t n, std::span<std::uint32_t> values) {
    const auto mid = values.begin() + static_cast<std::ptrdiff_t>((n - 1) / 2);
    std::nth_element(values.begin(), mid, values.end());
    return *mid;
  }
  static std::uint64_t digest(Value v) { return v; }
  static void format(fmt::memory_buffer& out, Value v) { fmt::format_to(std::back_inserter(out), "{}", v); }
};

struct Index {
  using Value = std::vector<std::uint32_t>;
  static constexpr bool by_doc = true;
  static constexpr bool needs_values = true;
  template <class Emit>
  static void map(std::string_view text, std::uint32_t doc, Emit&& emit) {
    mapreduce::for_each_word(text, [&](std::string_view w) { emit(w, doc); });
  }
  // The Pool hands a key's values in task order, which is document order; the threaded
  // engines gather each thread's ascending ids one thread after another. The check costs
  // one pass and lets every engine share this code.
  static Value reduce(std::size_t /*n*/, std::span<std::uint32_t> values) {
    if (!std::is_sorted(values.begin(), values.end())) std::sort(values.begin(), values.end());
    return {values.begin(), std::unique(values.begin(), values.end())};
  }
  static std::uint64_t digest(const Value& v) {
    std::uint64_t h = v.size();
    for (const std::uint32_t d : v) h = mapreduce::hash_integer(h ^ d);
    return h;
  }
  static void format(fmt::memory_buffer& out, const Value& v) {
    fmt::format_to(std::back_inserter(out), "{}", fmt::join(v, ","));
  }
};

// What every engine returns: one row per distinct key, in no particular order, and the
// number of pairs the mappers emitted.
template <class Job>
struct Groups {
  std::vector<std::pair<std::string, typename Job::Value>> rows;
  std::uint64_t pairs = 0;
};

// A byte of a word, as for_each_word documents it: an ASCII letter or digit, or any byte
// from 0x80 up (so UTF-8 words stay whole).
constexpr bool is_word_byte(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u >= 0x80;
}
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// Runs f(t) on `threads` threads and waits for all: the join is the barrier between phases.
template <class F>
void on_threads(unsigned threads, F f) {
  std::vector<std::thread> running;
  for (unsigned t = 0; t < threads; ++t) running.emplace_back(f, t);
  for (auto& th : running) th.join();
}

unsigned usable_cpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

// ---- pool ----

template <class Job>
Groups<Job> run_pool(const std::string& path, unsigned workers, std::size_t memory, bool stats) {
  mapreduce::Pool pool({.workers = workers, .shm_budget = memory});
  auto reducer = mapreduce::per_key([values = std::vector<std::uint32_t>()](auto, auto given) mutable {
    if constexpr (Job::needs_values) {
      values.assign(given.begin(), given.end());  // the span is read-only; median and index reorder
      return Job::reduce(given.size(), values);
    } else {
      return Job::reduce(given.size(), {});
    }
  });
  Groups<Job> out;
  if constexpr (Job::by_doc) {
    // The documents are cut in the parent and read by the workers through the mapping they
    // inherit: the input is only their ids, as bench/wordcount_bench.cpp's inverted index.
    const bench::MappedFile file(path);
    const auto docs = bench::pieces(file.text(), doc_bytes);
    std::vector<std::uint32_t> ids(docs.size());
    for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
    out.rows = pool.map_reduce<std::string, std::uint32_t>(
        ids, [&docs](std::uint32_t d, auto& emit) { Job::map(docs[d], d, emit); }, reducer);
  } else {
    out.rows = pool.map_reduce<std::string, std::uint32_t>(
        mapreduce::FileInput{{path}}, [](std::string_view chunk, auto& emit) { Job::map(chunk, 0, emit); }, reducer);
  }
  const mapreduce::JobStats& s = pool.last_stats();
  out.pairs = s.records;
  if (stats) {
    fmt::print(stderr,
               "stats: split_s={:.3f} map_s={:.3f} reduce_s={:.3f} gather_s={:.3f} total_s={:.3f} input_bytes={} "
               "map_tasks={} records={} distinct_keys={} shared_bytes={} spilled_bytes={} retries={} "
               "map_workers={} reduce_workers={} shm_budget={}\n",
               s.split_seconds, s.map_seconds, s.reduce_seconds, s.gather_seconds, s.total_seconds, s.input_bytes,
               s.map_tasks, s.records, s.distinct_keys, s.shared_bytes, s.spilled_bytes, s.retries, s.map_workers,
               s.reduce_workers, pool.shm_budget());
  }
  return out;
}

// ---- radix ----

// A word in 8 bytes. One of up to 8 bytes (most words) is itself, lower-cased and
// zero-padded: its first byte is never 0, as no word byte is. A longer one is 0 in the low
// byte and its offset in the file above: it ends at the first byte that is not a word byte,
// and a word for_each_word lower-cased still points at its original bytes, compared with
// ASCII case folded. Equal words of up to 8 bytes thus compare as integers, and only the
// long ones are read from the file, which lies far from the records once they are sorted.
constexpr std::size_t inline_bytes = 8;
std::uint64_t short_word(std::string_view w) {
  std::uint64_t v = 0;
  std::memcpy(&v, w.data(), w.size());
  return v;
}
constexpr std::uint64_t long_word(std::uint32_t offset) noexcept { return std::uint64_t(offset) << 8; }
constexpr bool is_long(std::uint64_t word) noexcept { return (word & 0xff) == 0; }
constexpr std::uint32_t offset_of(std::uint64_t word) noexcept { return static_cast<std::uint32_t>(word >> 8); }

// One pair, so that a partition sorts in a few linear passes over fixed-size records: 16
// bytes for count, which needs no value, 24 for the jobs that do.
struct Record {
  std::uint64_t hash;  // of the lower-cased word
  std::uint64_t word;  // as short_word or long_word
};
struct ValuedRecord {
  std::uint64_t hash;
  std::uint64_t word;
  std::uint32_t value;
};
static_assert(sizeof(Record) == 16 && sizeof(ValuedRecord) == 24);
template <class Job>
using RecordOf = std::conditional_t<Job::needs_values, ValuedRecord, Record>;

// The file offsets of the words for_each_word hands while it reads one piece forward.
class WordOffsets {
 public:
  WordOffsets(std::string_view file, std::string_view piece)
      : file_(file), cursor_(static_cast<std::size_t>(piece.data() - file.data())) {}
  // Called for every word in turn: a lower-cased copy is found from the previous word's end.
  std::uint32_t operator()(std::string_view w) {
    const auto p = reinterpret_cast<std::uintptr_t>(w.data());
    const auto first = reinterpret_cast<std::uintptr_t>(file_.data());
    std::size_t at;
    if (p >= first && p < first + file_.size()) {
      at = p - first;
    } else {
      // The next run of word bytes after the previous word.
      at = cursor_;
      while (!is_word_byte(file_[at])) ++at;
    }
    cursor_ = at + w.size();
    return static_cast<std::uint32_t>(at);
  }

 private:
  std::string_view file_;
  std::size_t cursor_;  // just past the previous word
};

// The word at `at`, lower-cased.
std::string word_at(std::string_view file, std::size_t at) {
  std::string w;
  for (; at < file.size() && is_word_byte(file[at]); ++at) w += lower(file[at]);
  return w;
}

// The word a record holds, lower-cased.
std::string word_of(std::string_view file, std::uint64_t word) {
  if (is_long(word)) return word_at(file, offset_of(word));
  const auto bytes = static_cast<std::size_t>(64 - __builtin_clzll(word) + 7) / 8;  // up to the last nonzero byte
  std::string w(bytes, '\0');
  std::memcpy(w.data(), &word, bytes);
  return w;
}

// Whether the word at `at` is `key` (lower-case) once folded.
bool is_word(std::string_view file, std::size_t at, std::string_view key) {
  if (file.size() - at < key.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (lower(file[at + i]) != key[i]) return false;
  }
  return at + key.size() == file.size() || !is_word_byte(file[at + key.size()]);
}

// Whether `word` is `key`, whose record holds `key_word`: the same 8 bytes, or two long
// words with the same text.
bool same_word(std::string_view file, std::uint64_t word, std::uint64_t key_word, std::string_view key) {
  return word == key_word || (is_long(word) && is_long(key_word) && is_word(file, offset_of(word), key));
}

// Sorts `a` on the low 33 bits of the hash: three stable LSD passes of 11 bits (2048
// buckets, whose counters and write positions stay in L1), all counted in one read. Equal
// hashes end up adjacent unless two hashes share those bits; group_partition fixes that.
constexpr int radix_bits = 11, radix_passes = 3;
constexpr std::uint64_t sorted_bits = (std::uint64_t(1) << (radix_bits * radix_passes)) - 1;
template <class R>
void radix_sort(std::vector<R>& a, std::vector<R>& tmp) {
  constexpr std::size_t buckets = std::size_t(1) << radix_bits;
  std::array<std::array<std::size_t, buckets>, radix_passes> count{};
  for (const R& r : a) {
    for (int p = 0; p < radix_passes; ++p) ++count[p][(r.hash >> (radix_bits * p)) & (buckets - 1)];
  }
  tmp.resize(a.size());
  for (int p = 0; p < radix_passes; ++p) {
    auto& c = count[p];
    if (c[(a[0].hash >> (radix_bits * p)) & (buckets - 1)] == a.size()) continue;  // one bucket: nothing moves
    std::size_t sum = 0;
    for (std::size_t& n : c) sum += std::exchange(n, sum);
    for (const R& r : a) tmp[c[(r.hash >> (radix_bits * p)) & (buckets - 1)]++] = r;
    a.swap(tmp);
  }
}

// Walks the sorted records of one partition and appends one row per distinct word.
template <class Job, class R>
void group_partition(std::string_view file, std::vector<R>& recs, std::vector<std::uint32_t>& values,
                     std::vector<std::pair<std::string, typename Job::Value>>& rows) {
  using Iter = typename std::vector<R>::iterator;
  auto at = [&](std::size_t i) { return recs.begin() + static_cast<std::ptrdiff_t>(i); };
  // Two hashes that agree on the sorted bits may interleave: sort such a run on the whole
  // hash. Rare (a few per million keys), and a one-hash run costs a compare per record.
  for (std::size_t i = 0, j; i < recs.size(); i = j) {
    bool mixed = false;
    for (j = i + 1; j < recs.size() && (recs[j].hash & sorted_bits) == (recs[i].hash & sorted_bits); ++j) {
      mixed |= recs[j].hash != recs[i].hash;
    }
    if (mixed) std::sort(at(i), at(j), [](const R& x, const R& y) { return x.hash < y.hash; });
  }
  auto emit_group = [&](Iter first, Iter last, std::string key) {
    if constexpr (Job::needs_values) {
      values.clear();
      for (auto r = first; r != last; ++r) values.push_back(r->value);
    }
    rows.emplace_back(std::move(key), Job::reduce(static_cast<std::size_t>(last - first), values));
  };
  for (std::size_t i = 0, j; i < recs.size(); i = j) {
    for (j = i + 1; j < recs.size() && recs[j].hash == recs[i].hash; ++j) {
    }
    // Equal hashes, but the words must be equal too: check each against the first. Long
    // words are read from all over the file, so they are fetched well ahead.
    const std::uint64_t key_word = recs[i].word;
    std::string key = word_of(file, key_word);
    bool one_word = true;
    for (std::size_t k = i + 1; k < j; ++k) {
      if (k + 16 < j && is_long(recs[k + 16].word)) __builtin_prefetch(file.data() + offset_of(recs[k + 16].word));
      if (!same_word(file, recs[k].word, key_word, key)) {
        one_word = false;
        break;
      }
    }
    if (one_word) {
      emit_group(at(i), at(j), std::move(key));
      continue;
    }
    // A 64-bit collision: peel off one word at a time, keeping each word's records in order.
    for (Iter first = at(i), last = at(j); first != last;) {
      const std::uint64_t w = first->word;
      std::string word = word_of(file, w);
      const Iter split = std::stable_partition(first, last,
                                               [&](const R& r) { return same_word(file, r.word, w, word); });
      emit_group(first, split, std::move(word));
      first = split;
    }
  }
}

// Enough partitions that each sorts in about 4 MiB of records (estimating a word per 5 bytes
// of text), and at least 4 per thread so that the threads finish together.
template <class R>
std::uint32_t radix_partitions(std::size_t bytes, unsigned threads) {
  const std::size_t wanted = bytes / 5 * sizeof(R) / (std::size_t(4) << 20) + 1;
  return static_cast<std::uint32_t>(std::clamp<std::size_t>(wanted, 4 * std::size_t(threads), 4096));
}

template <class Job>
Groups<Job> run_radix(const bench::MappedFile& file, unsigned threads) {
  using R = RecordOf<Job>;
  const std::string_view text = file.text();
  const auto work = bench::pieces(text, Job::by_doc ? doc_bytes : piece_bytes);
  const std::uint32_t parts = radix_partitions<R>(text.size(), threads);

  // Map: threads take pieces from a counter and append records to their own partitions.
  // Each thread's buffers on cache lines of their own: their sizes change per record, and
  // sharing a line with another thread's would slow both (false sharing).
  struct alignas(128) Lane {
    std::vector<std::vector<R>> parts;
    std::uint64_t records = 0;
  };
  std::vector<Lane> lanes(threads);
  std::atomic<std::size_t> next{0};
  on_threads(threads, [&](unsigned t) {
    Lane& lane = lanes[t];
    lane.parts.resize(parts);
    // Reserved address space costs nothing until written; it spares most regrowth copies.
    for (auto& p : lane.parts) p.reserve(text.size() / 4 / (std::size_t(threads) * parts) + 16);
    for (std::size_t i; (i = next.fetch_add(1)) < work.size();) {
      WordOffsets where(text, work[i]);
      Job::map(work[i], static_cast<std::uint32_t>(i), [&](std::string_view w, std::uint32_t v) {
        const std::uint64_t h = mapreduce::hash_bytes(w.data(), w.size());
        const std::uint32_t offset = where(w);
        const std::uint64_t word = w.size() <= inline_bytes ? short_word(w) : long_word(offset);
        auto& part = lane.parts[mapreduce::partition_of(h, parts)];
        if constexpr (Job::needs_values) {
          part.push_back({h, word, v});
        } else {
          part.push_back({h, word});
        }
      });
    }
    for (const auto& p : lane.parts) lane.records += p.size();
  });

  // Reduce: threads take whole partitions, gather them from every lane, sort and group.
  std::vector<std::vector<std::pair<std::string, typename Job::Value>>> rows(parts);
  next = 0;
  on_threads(threads, [&](unsigned) {
    std::vector<R> recs, tmp;
    std::vector<std::uint32_t> values;
    for (std::size_t p; (p = next.fetch_add(1)) < parts;) {
      recs.clear();
      for (Lane& lane : lanes) {
        recs.insert(recs.end(), lane.parts[p].begin(), lane.parts[p].end());
        std::vector<R>().swap(lane.parts[p]);  // freed as it is consumed
      }
      if (recs.empty()) continue;
      radix_sort(recs, tmp);
      group_partition<Job>(text, recs, values, rows[p]);
    }
  });

  Groups<Job> out;
  for (const Lane& lane : lanes) out.pairs += lane.records;
  std::size_t n = 0;
  for (const auto& r : rows) n += r.size();
  out.rows.reserve(n);
  for (auto& r : rows) std::move(r.begin(), r.end(), std::back_inserter(out.rows));
  return out;
}

// ---- sort ----

template <class Job>
Groups<Job> run_sort(const bench::MappedFile& file, unsigned threads) {
  const std::string_view text = file.text();
  const auto work = bench::pieces(text, Job::by_doc ? doc_bytes : piece_bytes);
  const std::uint32_t parts = 4 * threads;
  struct Entry {
    std::uint64_t hash;
    std::string word;
    std::uint32_t value;
    auto operator<=>(const Entry&) const = default;
  };
  struct alignas(128) Lane {
    std::vector<std::vector<Entry>> parts;
  };
  std::vector<Lane> lanes(threads);
  std::atomic<std::size_t> next{0};
  on_threads(threads, [&](unsigned t) {
    lanes[t].parts.resize(parts);
    for (std::size_t i; (i = next.fetch_add(1)) < work.size();) {
      Job::map(work[i], static_cast<std::uint32_t>(i), [&](std::string_view w, std::uint32_t v) {
        const std::uint64_t h = mapreduce::hash_bytes(w.data(), w.size());
        lanes[t].parts[mapreduce::partition_of(h, parts)].push_back({h, std::string(w), v});
      });
    }
  });

  std::vector<std::vector<std::pair<std::string, typename Job::Value>>> rows(parts);
  std::atomic<std::uint64_t> pairs{0};
  next = 0;
  on_threads(threads, [&](unsigned) {
    std::vector<std::uint32_t> values;
    for (std::size_t p; (p = next.fetch_add(1)) < parts;) {
      std::vector<Entry> all;
      for (Lane& lane : lanes) {
        std::move(lane.parts[p].begin(), lane.parts[p].end(), std::back_inserter(all));
        lane.parts[p] = {};
      }
      pairs += all.size();
      std::sort(all.begin(), all.end());
      for (std::size_t i = 0, j; i < all.size(); i = j) {
        values.clear();
        for (j = i; j < all.size() && all[j].hash == all[i].hash && all[j].word == all[i].word; ++j) {
          if constexpr (Job::needs_values) values.push_back(all[j].value);
        }
        rows[p].emplace_back(std::move(all[i].word), Job::reduce(j - i, values));
      }
    }
  });

  Groups<Job> out;
  out.pairs = pairs;
  for (auto& r : rows) std::move(r.begin(), r.end(), std::back_inserter(out.rows));
  return out;
}

// ---- output ----

// An InputError naming FILE when it cannot be mapped, before any engine starts: the same
// message and exit status (2) from all three.
void check_input(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw mapreduce::InputError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) throw mapreduce::InputError(fmt::format("{}: not a regular file", path));
  if (::access(path.c_str(), R_OK) != 0) {
    throw mapreduce::InputError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (static_cast<std::uint64_t>(st.st_size) > UINT32_MAX) {
    // The radix engine's records hold 32-bit offsets; one limit for all keeps the runs alike.
    throw mapreduce::InputError(fmt::format("{}: over 4 GiB, which groupby does not take", path));
  }
}

// One line that is equal for equal results whatever their order: the sum over keys of
// hash(key) * (a digest of its value + 1), modulo 2^64.
template <class Job>
void print_summary(const Groups<Job>& g) {
  std::uint64_t digest = 0;
  for (const auto& [key, value] : g.rows)
    digest += mapreduce::hash_bytes(key.data(), key.size()) * (Job::digest(value) + 1);
  fmt::print("keys={} pairs={} digest={:016x}\n", g.rows.size(), g.pairs, digest);
}

template <class Job>
void print_rows(Groups<Job>& g) {
  std::sort(g.rows.begin(), g.rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  fmt::memory_buffer out;
  for (const auto& [key, value] : g.rows) {
    fmt::format_to(std::back_inserter(out), "{}\t", key);
    Job::format(out, value);
    out.push_back('\n');
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

template <class Job>
void run(const std::string& engine, const std::string& path, unsigned workers, std::size_t memory, bool print,
         bool stats) {
  Groups<Job> g;
  if (engine == "pool") {
    g = run_pool<Job>(path, workers, memory, stats);
  } else {
    const bench::MappedFile file(path);
    const unsigned threads = workers != 0 ? workers : usable_cpus();
    g = engine == "radix" ? run_radix<Job>(file, threads) : run_sort<Job>(file, threads);
  }
  if (print) {
    print_rows(g);
  } else {
    print_summary(g);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("groupby", [&] {
    std::string engine, job, path;
    unsigned workers = 0;
    std::size_t memory = 0;
    bool print = false, stats = false;
    cli::App app("groupby",
                 "Groups the words of FILE with no combiner, every pair shuffled, by the library's Pool\n"
                 "or by one of two threaded baselines, and prints a digest of the result that is the\n"
                 "same for every engine and worker count.");
    app.add_choice("--engine", engine, {"pool", "radix", "sort"},
                   "pool: the library; radix: threads, partitioned fixed-size records, radix\n"
                   "sort; sort: threads, (hash, string, value) per pair, std::sort")
        ->required();
    app.add_choice("--job", job, {"count", "median", "index"},
                   "count: word -> occurrences; median: word -> median length of its lines;\n"
                   "index: word -> the 64 KiB blocks it occurs in")
        ->required();
    app.add_count("-w,--workers", workers, 1, 1024,
                  "worker processes (pool) or threads (default: the CPUs this process may use)");
    app.add_count("--memory", memory, 0, std::uint64_t(1) << 50,
                  "the pool's shared-memory budget in bytes (default, or 0: the library's)")
        ->type_name("BYTES");
    app.add_flag("--print", print, "print every key and value, sorted by key, instead of the digest");
    app.add_flag("--stats", stats, "print the pool's statistics of the job on standard error");
    app.add_option("FILE", path, "the file to read")->required()->type_name("");
    app.parse_command_line(argc, argv);
    check_input(path);
    if (job == "count") {
      run<Count>(engine, path, workers, memory, print, stats);
    } else if (job == "median") {
      run<Median>(engine, path, workers, memory, print, stats);
    } else {
      run<Index>(engine, path, workers, memory, print, stats);
    }
    return 0;
  });
}
