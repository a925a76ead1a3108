#pragma once
// Inputs of a job: files split into chunks at record boundaries.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mapreduce {

/// Files to read, memory-mapped read-only and split into chunks of about
/// PoolOptions::chunk_bytes that end on a record delimiter, so no record is cut in two.
/// The mapper is called once per chunk with a view of whole records (the last record of
/// a file may lack its delimiter). The path "-" is standard input: a regular file there is
/// mapped like any other, a pipe (or a device) is read first: into shared memory, where it
/// counts against the job's budget, and past the budget into a file in the spill directory
/// (under MpiPool, a pipe may not be larger than the budget).
///
///     pool.map_reduce<std::string, std::uint64_t>(
///         mapreduce::FileInput{{"a.txt", "b.txt"}},
///         [](std::string_view chunk, auto& emit) { ... }, std::plus<>{});
struct FileInput {
  std::vector<std::filesystem::path> paths;
  char delimiter = '\n';
};

/// Where a chunk of a FileInput comes from. A mapper that takes it as a second argument
/// gets it with every chunk, e.g. to key by file (an inverted index) or to know the first
/// record of a file (a CSV header):
///
///     [](std::string_view chunk, const mapreduce::ChunkSource& from, auto& emit) {
///       mapreduce::for_each_word(chunk, [&](std::string_view w) { emit(w, from.file); });
///     }
struct ChunkSource {
  std::uint32_t file = 0;    ///< the index of its file in FileInput::paths
  std::string_view path;     ///< that path, as given ("-" for standard input)
  std::uint64_t offset = 0;  ///< the offset of the chunk's first byte in its file
};

/// Bytes [begin, end) of input file number `file`: one piece of a map task.
/// A task reads the records that start inside its pieces.
struct InputSplit {
  std::uint32_t file = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

/// Calls `f(std::string_view record)` for each record of `chunk`, without its delimiter.
template <class F>
void for_each_record(std::string_view chunk, F&& f, char delimiter = '\n') {
  while (!chunk.empty()) {
    const std::size_t n = chunk.find(delimiter);
    if (n == std::string_view::npos) {
      f(chunk);
      return;
    }
    f(chunk.substr(0, n));
    chunk.remove_prefix(n + 1);
  }
}

}  // namespace mapreduce
