#pragma once
// The binary part file (PartFormat::binary), as Pool::map_reduce_to_files writes it:
//
//   [magic 8 bytes: "MRPART1\n"]            a format name and version
//   [a reduced partition: pairs_format.hpp]  [count u64] then count records of [key][value]
//
// It does not record the key and value types. And the file operations of part files, whose
// errors name the file (src/part_files.cpp).
#include <cstddef>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "mapreduce/detail/resource.hpp"

namespace mapreduce::detail {

inline constexpr char part_file_magic[8] = {'M', 'R', 'P', 'A', 'R', 'T', '1', '\n'};
inline constexpr std::size_t part_file_pairs_at = sizeof(part_file_magic);  // where the pairs begin

// The name of partition p's file.
inline std::string part_file_name(std::uint32_t p) { return fmt::format("part-{:05}", p); }

int open_for_writing(const std::string& path);              // created or truncated; Error
int open_for_reading(const std::string& path);              // InputError
std::uint64_t file_size(int fd, const std::string& path);   // a regular file's; InputError
void close_checked(UniqueFd& fd, const std::string& path);  // a failed close() is a failed write

}  // namespace mapreduce::detail
