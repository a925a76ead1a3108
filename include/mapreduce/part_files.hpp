#pragma once
// A job's result written by its reducers to files, one per partition, instead of gathered
// into the parent (Pool::map_reduce_to_files): for results larger than the parent should
// hold, and for the next program to read. And the reader of the binary format.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/pairs_format.hpp"
#include "mapreduce/detail/resource.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce {

/// How the part files are written.
enum class PartFormat {
  tsv,     ///< `key<TAB>value<LF>` per pair, both through fmt (keys and values need an fmt::formatter)
  binary,  ///< the pairs in their Codecs' format after an 8-byte header; read it with read_part_file
};

/// Where Pool::map_reduce_to_files writes: `directory/part-00000` to `part-(P-1)`, one per
/// partition (empty ones too). They are written under a temporary directory beside it and
/// moved into place only when the whole job has succeeded, so a failed job leaves nothing
/// and an earlier output stays as it was. An existing `directory` is replaced only if it
/// holds nothing but part files (an earlier output); anything else in it is an error.
struct PartFiles {
  std::filesystem::path directory;
  PartFormat format = PartFormat::tsv;
};

/// What Pool::map_reduce_to_files wrote.
struct PartFilesWritten {
  std::vector<std::filesystem::path> files;  ///< in partition order
  std::uint64_t pairs = 0;
  std::uint64_t bytes = 0;
};

namespace detail {

// The first 8 bytes of a binary part file: a format name and version.
inline constexpr char part_file_magic[8] = {'M', 'R', 'P', 'A', 'R', 'T', '1', '\n'};

// The name of partition p's file.
inline std::string part_file_name(std::uint32_t p) { return fmt::format("part-{:05}", p); }

// Where a job's reducers write: the temporary directory, and the format.
struct PartFileTarget {
  std::string directory;
  PartFormat format = PartFormat::tsv;
};

// Files, with errors that name them (src/part_files.cpp).
int open_for_writing(const std::string& path);                        // created or truncated; Error
int open_for_reading(const std::string& path);                        // InputError
std::uint64_t file_size(int fd, const std::string& path);             // InputError
void write_all(int fd, std::string& bytes, const std::string& path);  // then clears `bytes`; Error
void close_checked(UniqueFd& fd, const std::string& path);            // a failed close() is a failed write

// The parent's side of a job that writes part files: the temporary directory the reducers
// write in, beside the target, removed unless the job commits; and the move into place.
class PartDirectory {
 public:
  // Throws InputError when `files.directory` exists and is not a directory of part files, or
  // the temporary directory cannot be made.
  explicit PartDirectory(const PartFiles& files);
  ~PartDirectory();
  PartDirectory(const PartDirectory&) = delete;
  PartDirectory& operator=(const PartDirectory&) = delete;

  [[nodiscard]] const PartFileTarget& target() const noexcept { return target_; }
  // Writes the files of the partitions no reducer wrote (empty), then puts the directory in
  // place of the target: an exchange of the two where the target exists (the old output is
  // then removed), a rename where it does not.
  PartFilesWritten commit(std::uint32_t partitions, std::uint64_t pairs);

 private:
  std::filesystem::path final_;
  PartFileTarget target_;
  bool committed_ = false;
};

template <class T>
inline constexpr bool tsv_writable = fmt::is_formattable<T>::value;

// Writes `pairs` (a range of (key view, value)) to `path`, created or truncated, in
// `format`; through a buffer flushed every MiB, so a partition's text is never held whole.
// Throws Error naming the file when it cannot be written (a full disk).
template <class K, class Out, class Pairs>
void write_part_file(const std::string& path, PartFormat format, const Pairs& pairs) {
  using View = typename KeyTraits<K>::view;
  UniqueFd fd(open_for_writing(path));
  std::string buffer;
  constexpr std::size_t flush_at = std::size_t(1) << 20;
  if (format == PartFormat::binary) {
    buffer.append(part_file_magic, sizeof(part_file_magic));
    const std::uint64_t count = pairs.size();
    buffer.append(reinterpret_cast<const char*>(&count), sizeof(count));
    for (const auto& [key, value] : pairs) {
      const std::size_t k = KeyTraits<K>::size(key), v = Codec<Out>::size(value);
      const std::size_t at = buffer.size();
      buffer.resize(at + k + v + codec_slack);  // a user's write() gets room after, and is checked
      write_key_value<K, Out>(buffer.data() + at, key, k, value, v);
      buffer.resize(at + k + v);
      if (buffer.size() >= flush_at) write_all(fd.get(), buffer, path);
    }
  } else {
    if constexpr (tsv_writable<View> && tsv_writable<Out>) {
      for (const auto& [key, value] : pairs) {
        if constexpr (std::is_same_v<View, std::string_view>) {
          buffer.append(key);  // as it is: a string key's bytes need no formatting
          buffer += '\t';
          fmt::format_to(std::back_inserter(buffer), "{}\n", value);
        } else {
          fmt::format_to(std::back_inserter(buffer), "{}\t{}\n", key, value);
        }
        if (buffer.size() >= flush_at) write_all(fd.get(), buffer, path);
      }
    } else {
      throw OptionsError("PartFormat::tsv needs an fmt::formatter for the key and the value: use PartFormat::binary");
    }
  }
  write_all(fd.get(), buffer, path);
  close_checked(fd, path);
}

}  // namespace detail

/// Calls `f(key_view, V)` for every pair of a binary part file, in order, read in place
/// from the mapped file. Throws InputError naming the file when it cannot be read or is
/// not a part file of these types.
template <Key K, Encodable V, class F>
void for_each_in_part_file(const std::filesystem::path& path, F&& f) {
  const std::string name = path.string();
  detail::UniqueFd fd(detail::open_for_reading(name));
  const std::uint64_t size = detail::file_size(fd.get(), name);
  if (size < sizeof(detail::part_file_magic) ||
      std::memcmp(detail::MappedRegion::map(fd.get(), sizeof(detail::part_file_magic), false, name).data(),
                  detail::part_file_magic, sizeof(detail::part_file_magic)) != 0) {
    throw InputError(fmt::format("{}: not a binary part file (no MRPART1 header)", name));
  }
  const auto region = detail::MappedRegion::map(fd.get(), static_cast<std::size_t>(size), false, name);
  std::string_view bytes(region.data() + sizeof(detail::part_file_magic),
                         region.size() - sizeof(detail::part_file_magic));
  detail::PaddedBytes padded;  // a user's read() may go past the last pair: give it room that is ours
  if constexpr (!detail::PairsView<K, V>::trusted) bytes = padded.pad(bytes, 0);
  try {
    detail::PairsView<K, V>(bytes.data(), bytes.size()).for_each(f);
  } catch (const JobError& e) {
    throw InputError(fmt::format("{}: {}", name, e.what()));
  }
}

/// The pairs of a binary part file, in order.
template <Key K, Encodable V>
std::vector<std::pair<K, V>> read_part_file(const std::filesystem::path& path) {
  std::vector<std::pair<K, V>> pairs;
  for_each_in_part_file<K, V>(
      path, [&pairs](auto key, V value) { pairs.emplace_back(KeyTraits<K>::own(key), std::move(value)); });
  return pairs;
}

}  // namespace mapreduce
