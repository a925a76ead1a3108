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
#include "mapreduce/detail/part_file_format.hpp"
#include "mapreduce/detail/resource.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce {

/// How the part files are written.
enum class PartFormat {
  tsv,     ///< `key<TAB>value<LF>` per pair, both through fmt (keys and values need an fmt::formatter);
           ///< a string key is written as it is, so one with a tab or a newline cannot be split back out
  binary,  ///< the pairs in their Codecs' format (detail/part_file_format.hpp); read it with read_part_file
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

/// Calls `f(key_view, V)` for every pair of a binary part file, in order, read in place
/// from the mapped file. Throws InputError naming the file when it cannot be read, is not a
/// binary part file, or its bytes do not parse as pairs of these types (the file does not
/// record its types: read it as the types it was written with).
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
  std::string_view bytes(region.data() + detail::part_file_pairs_at, region.size() - detail::part_file_pairs_at);
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
