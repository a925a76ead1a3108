#pragma once
// The writing side of part files (Pool::map_reduce_to_files): what a reducer writes, and the
// parent's temporary directory and its move into place (src/part_files.cpp).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/part_file_format.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/resource.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"
#include "mapreduce/part_files.hpp"

namespace mapreduce::detail {

// Where a job's reducers write: the temporary directory, and the format.
struct PartFileTarget {
  std::string directory;
  PartFormat format = PartFormat::tsv;
};

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
  // `reports`: what the reducers sent when each file was whole, the file's pairs as a u64,
  // tagged with its partition.
  PartFilesWritten commit(std::uint32_t partitions, const std::vector<SmallResult>& reports);

 private:
  std::filesystem::path final_;
  PartFileTarget target_;
  bool committed_ = false;
};

template <class T>
inline constexpr bool tsv_writable = fmt::is_formattable<T>::value;

// Writes out and empties a part file's buffer.
inline void flush(int fd, std::string& buffer, const std::string& path) {
  write_fully(fd, buffer, path + ": cannot write");
  buffer.clear();
}

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
      if (buffer.size() >= flush_at) flush(fd.get(), buffer, path);
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
        if (buffer.size() >= flush_at) flush(fd.get(), buffer, path);
      }
    } else {
      throw OptionsError("PartFormat::tsv needs an fmt::formatter for the key and the value: use PartFormat::binary");
    }
  }
  flush(fd.get(), buffer, path);
  close_checked(fd, path);
}

}  // namespace mapreduce::detail
