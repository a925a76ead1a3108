#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "mapreduce/detail/resource.hpp"
#include "mapreduce/input.hpp"

namespace mapreduce::detail {

// The map tasks of a FileInput. Made in the parent, which checks every file (so a bad
// path fails before anything is forked) but reads none of them; used in the workers,
// which map the files and find the record boundaries of their own pieces.
class FilePlan {
 public:
  // A pipe is buffered in shared memory up to `max_pipe_bytes`, then in a file in
  // `spill_dir` (empty: it may not be larger).
  FilePlan(const FileInput& input, std::size_t chunk_bytes, std::size_t max_pipe_bytes,
           const std::string& spill_dir = {});

  [[nodiscard]] std::size_t tasks() const noexcept { return task_begin_.size() - 1; }
  [[nodiscard]] std::uint64_t total_bytes() const noexcept { return total_bytes_; }
  [[nodiscard]] std::string describe(std::size_t task) const;
  // The bytes of input a task covers.
  [[nodiscard]] std::uint64_t task_bytes(std::size_t task) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = task_begin_[task]; i < task_begin_[task + 1]; ++i) n += splits_[i].end - splits_[i].begin;
    return n;
  }
  // Throws InputError if a file of `task` is now shorter than when the job began: reading
  // its mapping past the new end raised SIGBUS in the worker.
  void check_unchanged(std::size_t task) const;
  // Standard input and pipes, read into memory before the fork: the workers map them.
  void descriptors(std::vector<int>& keep) const {
    for (const UniqueFd& fd : fds_) keep.push_back(fd.get());
  }

  // In a worker: calls f(chunk, source) for each non-empty piece of `task`, records whole.
  [[nodiscard]] char delimiter() const noexcept { return delimiter_; }
  // The bytes of pipes held in shared memory: part of the job's budget while the job runs.
  [[nodiscard]] std::uint64_t buffered_bytes() const noexcept { return buffered_bytes_; }
  template <class F>
  void for_each_chunk(std::size_t task, F&& f) {
    for (std::size_t i = task_begin_[task]; i < task_begin_[task + 1]; ++i) {
      const std::uint32_t file = splits_[i].file;
      const std::string_view chunk = records_of(splits_[i]);
      if (chunk.empty()) continue;
      const auto offset = static_cast<std::uint64_t>(chunk.data() - maps_[file].data());
      f(chunk, ChunkSource{file, files_[file].name, offset});
    }
  }

 private:
  struct File {
    std::string name;  // as the user gave it, for messages
    std::uint64_t size = 0;
    int fd = -1;  // for standard input and pipes (held in fds_); else opened by path
  };
  std::string_view records_of(const InputSplit& split);
  const char* mapped(std::uint32_t file);

  char delimiter_;
  std::vector<File> files_;
  std::vector<UniqueFd> fds_;
  std::vector<InputSplit> splits_;
  std::vector<std::size_t> task_begin_;  // splits of task t: [task_begin_[t], task_begin_[t+1])
  std::uint64_t total_bytes_ = 0;
  std::uint64_t buffered_bytes_ = 0;
  // Worker side: the files mapped so far, the oldest unmapped first past a bound.
  std::vector<MappedRegion> maps_;
  std::deque<std::uint32_t> mapped_order_;
};

}  // namespace mapreduce::detail
