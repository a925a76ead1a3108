#pragma once
// Encoding and decoding records when a Codec (or KeyTraits) may not do what it says. The
// library's own Codecs are trusted: their size(), write() and read() agree, and the checks
// below compile away for them, down to the compares that keep a reader inside its buffer. A
// user's Codec is taken at its word only as far as it can be checked:
//
// - Writing: every record is written where room for what size() said was reserved, with at
//   least `codec_slack` more bytes of the buffer after it, and the end write() returns is
//   compared with what size() said. A write() that goes past size() by up to codec_slack
//   bytes lands in memory the engine owns and fails the task with a JobError that names the
//   Codec; one that goes further can corrupt the worker's memory before it is seen.
// - Reading: lengths and counts are checked against the buffer before anything is read, and
//   the place a read() stops against the record's end (or the buffer's, where records carry
//   no length). The library's Codecs called inside a user's read() stop at that end
//   (codec.hpp's read_end). A user's read() is handed bytes followed by at least codec_slack
//   readable bytes (copied, where the buffer does not have them), so one that reads up to
//   codec_slack bytes too far still reads memory the engine owns.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce::detail {

// Bytes kept readable and writable after a record that a user's Codec writes or reads: the
// size of a lie that is caught without touching memory the engine does not own.
inline constexpr std::size_t codec_slack = 4096;

// Whether KeyTraits<K> is the library's own (key.hpp says so with a `trusted` member).
template <class K>
inline constexpr bool trusted_key = requires {
  requires KeyTraits<K>::trusted;
};

// The name of T as the compiler spells it, for messages: "(anonymous namespace)::Point".
// Taken from the function's own signature, so it needs neither RTTI nor a demangler.
template <class T>
std::string_view type_name() {
  std::string_view f = __PRETTY_FUNCTION__;  // "... type_name() [with T = X; ...]" or "[T = X]"
  const std::size_t at = f.find("T = ");
  if (at == std::string_view::npos) return "?";
  f.remove_prefix(at + 4);
  std::size_t stop = f.find(';');
  if (stop == std::string_view::npos) stop = f.rfind(']');
  return f.substr(0, stop);
}

template <class T>
std::string codec_name() {
  return fmt::format("Codec<{}>", type_name<T>());
}
template <class K>
std::string key_traits_name() {
  return fmt::format("KeyTraits<{}>", type_name<K>());
}

// "Codec<Point>::read" for the user's parts of a record of K and V, for a message about
// bytes that do not parse: those are the suspects. Empty when both are the library's.
template <class K, class V>
std::string suspects() {
  std::string s;
  if constexpr (!trusted_key<K>) s = key_traits_name<K>() + "::read";
  if constexpr (!trusted_codec<V>) s += (s.empty() ? "" : " or ") + codec_name<V>() + "::read";
  return s.empty() ? s : fmt::format(" (does {} read exactly what write() wrote?)", s);
}

// A size() that said one thing when the room was counted and another when the record was
// written: the records then do not end where the room did.
template <class K, class V>
[[noreturn, gnu::cold]] void throw_unstable_size() {
  std::string who;
  if constexpr (!trusted_key<K>) who = key_traits_name<K>() + "::size";
  if constexpr (!trusted_codec<V>) who += (who.empty() ? "" : " or ") + codec_name<V>() + "::size";
  throw JobError(fmt::format("{} gave two answers for one value", who));
}

// Where bytes are being read, for messages: what they are ("map run", "reduced partition",
// "item results") and whose read() may be at fault when they do not parse (suspects<K, V>).
struct ReadSite {
  const char* what;
  std::string (*suspects)();
  // The end a read is held to is its record's own (records that carry their length), not
  // the buffer's: going past it is that read's fault, not possibly an earlier one's.
  bool record_end = false;
};
template <class K, class V>
constexpr ReadSite read_site(const char* what, bool record_end = false) noexcept {
  return {what, &suspects<K, V>, record_end};
}

// Bytes that do not parse as `site.what`.
[[noreturn, gnu::cold]] inline void throw_corrupt(const ReadSite& site, std::string_view problem) {
  throw JobError(fmt::format("corrupt {}: {}{}", site.what, problem, site.suspects()));
}

// write() of `who` ("Codec<Point>") returned `end` for a value it began at `start` and whose
// size() said `said` bytes.
[[noreturn, gnu::cold]] inline void throw_write_mismatch(const std::string& who, const char* start, const char* end,
                                                         std::size_t said) {
  if (end < start) {
    throw JobError(fmt::format("{}::write returned an end {} bytes before where it began, size() said {}", who,
                               start - end, said));
  }
  const auto wrote = static_cast<std::size_t>(end - start);
  throw JobError(fmt::format("{}::write wrote {} bytes, size() said {}{}", who, wrote, said,
                             wrote > said + codec_slack
                                 ? fmt::format(" (past the {} bytes of room kept after a record: the worker's "
                                               "memory may be corrupt)",
                                               codec_slack)
                                 : ""));
}

// Writes a key and a value at `out`, whose sizes size() gave as `key_bytes` and
// `value_bytes` (at least codec_slack more bytes of the buffer follow them); returns the end.
// A user's KeyTraits or Codec has its end checked; the library's cannot be wrong.
template <class K, class V>
inline char* write_key_value(char* out, const typename KeyTraits<K>::view& key, std::size_t key_bytes, const V& value,
                             std::size_t value_bytes) {
  char* const key_end = KeyTraits<K>::write(out, key);
  if constexpr (!trusted_key<K>) {
    if (key_end != out + key_bytes) throw_write_mismatch(key_traits_name<K>(), out, key_end, key_bytes);
  }
  char* const end = Codec<V>::write(key_end, value);
  if constexpr (!trusted_codec<V>) {
    if (end != key_end + value_bytes) throw_write_mismatch(codec_name<V>(), key_end, end, value_bytes);
  }
  return end;
}

// The same where the sizes are not at hand: size() is asked again only when it is checked.
template <class K, class V>
inline char* write_key_value(char* out, const typename KeyTraits<K>::view& key, const V& value) {
  if constexpr (trusted_key<K> && trusted_codec<V>) {
    return Codec<V>::write(KeyTraits<K>::write(out, key), value);
  } else {
    return write_key_value<K, V>(out, key, KeyTraits<K>::size(key), value, Codec<V>::size(value));
  }
}

// Writes one value at `out` (size() said `bytes`, and codec_slack more follow); returns the end.
template <class V>
inline char* write_value(char* out, const V& value, std::size_t bytes) {
  char* const end = Codec<V>::write(out, value);
  if constexpr (!trusted_codec<V>) {
    if (end != out + bytes) throw_write_mismatch(codec_name<V>(), out, end, bytes);
  }
  return end;
}

// Sets read_end for the library's Codecs while a user's read() runs, and restores it.
class ReadLimit {
 public:
  explicit ReadLimit(const char* end) noexcept : saved_(read_end) { read_end = end; }
  ~ReadLimit() { read_end = saved_; }
  ReadLimit(const ReadLimit&) = delete;
  ReadLimit& operator=(const ReadLimit&) = delete;

 private:
  const char* saved_;
};

// A read that went past `end`, having begun at `start` and stopped at `r` (or thrown
// ReadPastEnd, before `end`). A reader of the library's: the bytes are bad. A user's: it reads
// more than its write() wrote.
template <bool Trusted>
[[noreturn, gnu::cold]] void throw_read_past(const ReadSite& site, std::string (*who)(), const char* start,
                                             const char* r, const char* end) {
  if constexpr (Trusted) {
    (void)who, (void)start, (void)r, (void)end;
    throw_corrupt(site, "a record runs past its end");
  } else {
    throw JobError(fmt::format(
        "{}::read read past the end of {} of the {}{}: it reads more than write() wrote{}", who(),
        site.record_end ? "its record" : "the bytes", site.what,
        r > end ? fmt::format(" (by {} bytes, from {} bytes before it)", r - end, end - start) : std::string(),
        site.record_end ? "" : ", or a read before it less"));
  }
}

// `read(r)` of `who` ("Codec<Point>"), under read_end = `end`; checks that it stopped at or
// before `end`. `Trusted`: the reader is the library's.
template <bool Trusted, class Read>
[[gnu::always_inline]] inline auto guarded_read(const char*& r, const char* end, const ReadSite& site, Read&& read,
                                                std::string (*who)()) {
  const char* const start = r;
  try {
    const ReadLimit limit(end);
    auto v = read(r);
    if (r > end) [[unlikely]]
      throw_read_past<Trusted>(site, who, start, r, end);
    return v;
  } catch (const ReadPastEnd&) {
    throw_read_past<Trusted>(site, who, start, r, end);
  }
}

// Reads a key from [r, end), moving r past it. The library's KeyTraits are read with their
// lengths checked first; a user's is read under read_end and checked after.
template <class K>
[[gnu::always_inline]] inline typename KeyTraits<K>::view read_key(const char*& r, const char* end,
                                                                   const ReadSite& site) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::uint32_t n;
    if (end - r < 4) [[unlikely]]
      throw_corrupt(site, "a key runs past its end");
    std::memcpy(&n, r, 4);
    if (n > static_cast<std::size_t>(end - r) - 4) [[unlikely]]
      throw_corrupt(site, "a key runs past its end");
    const std::string_view k(r + 4, n);
    r += 4 + static_cast<std::size_t>(n);
    return k;
  } else if constexpr (trusted_key<K> && std::is_trivially_copyable_v<K>) {
    K k;
    if (static_cast<std::size_t>(end - r) < sizeof(K)) [[unlikely]]
      throw_corrupt(site, "a key runs past its end");
    std::memcpy(&k, r, sizeof(K));
    r += sizeof(K);
    return k;
  } else {
    return guarded_read<trusted_key<K>>(
        r, end, site, [](const char*& in) { return KeyTraits<K>::read(in); }, &key_traits_name<K>);
  }
}

// Reads a value from [r, end), moving r past it; as read_key.
template <class V>
[[gnu::always_inline]] inline V read_value(const char*& r, const char* end, const ReadSite& site) {
  if constexpr (trusted_codec<V> && std::is_trivially_copyable_v<V>) {
    V v;
    if (static_cast<std::size_t>(end - r) < sizeof(V)) [[unlikely]]
      throw_corrupt(site, "a value runs past its end");
    std::memcpy(&v, r, sizeof(V));
    r += sizeof(V);
    return v;
  } else if constexpr (std::is_same_v<V, std::string>) {
    return std::string(read_key<std::string>(r, end, site));
  } else {
    return guarded_read<trusted_codec<V>>(
        r, end, site, [](const char*& in) { return Codec<V>::read(in); }, &codec_name<V>);
  }
}

// A value read from [start, r) whose record says it ends at `end`: the read must stop there.
template <class V>
[[gnu::always_inline]] inline void check_value_end(const char* start, const char* r, const char* end,
                                                   const ReadSite& site) {
  if (r != end) [[unlikely]] {
    if constexpr (trusted_codec<V>) {
      throw_corrupt(site, "a value does not fill its record");
    } else {
      throw JobError(
          fmt::format("{}::read read {} bytes of a value that write() wrote in {}: it reads {} than write() "
                      "wrote",
                      codec_name<V>(), r - start, end - start, r < end ? "less" : "more"));
    }
  }
}

// Decoding with a user's Codec: bytes with at least codec_slack readable bytes after them.
// Where the memory they lie in has fewer, they are copied (once) into a buffer that has them,
// zeroed; the copies live as long as this, so views of keys read from them stay valid.
class PaddedBytes {
 public:
  // `bytes`, or a padded copy of them; `after`: the readable bytes that follow them in place.
  std::string_view pad(std::string_view bytes, std::size_t after) {
    if (after >= codec_slack) return bytes;
    auto copy = std::make_unique<char[]>(bytes.size() + codec_slack);  // zeroed: the padding reads as 0
    if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
    copies_.push_back(std::move(copy));
    return {copies_.back().get(), bytes.size()};
  }

 private:
  std::vector<std::unique_ptr<char[]>> copies_;
};

// A byte buffer that grows without zeroing what it adds (std::vector<char>::resize would
// write every byte twice), and keeps codec_slack bytes of room after what it holds: a
// Codec's write() that goes past what its size() said lands there, and is caught.
class ByteBuffer {
 public:
  // n more bytes at the end; returns where they start. Inlined: it is on every emit's path.
  [[gnu::always_inline]] inline char* extend(std::size_t n) {
    if (n + codec_slack > capacity_ - size_) grow(n);
    char* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  void clear() noexcept { size_ = 0; }
  // Gives its memory back.
  void release() noexcept {
    data_.reset();
    size_ = capacity_ = 0;
  }
  // Room for n bytes without growing (address space: pages are touched as they are written).
  void reserve(std::size_t n) {
    if (n + codec_slack > capacity_) grow(n - std::min(n, size_));
  }
  [[nodiscard]] char* data() noexcept { return data_.get(); }
  [[nodiscard]] const char* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  [[gnu::noinline]] void grow(std::size_t n) {
    const std::size_t want = std::max({capacity_ * 2, size_ + n + codec_slack, std::size_t(1) << 16});
    auto bigger = std::make_unique_for_overwrite<char[]>(want);
    if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = want;
  }
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace mapreduce::detail
