#include "mapreduce/detail/file_plan.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "mapreduce/detail/split.hpp"
#include "mapreduce/detail/system.hpp"
#include "mapreduce/error.hpp"
#include "mapreduce/interrupt.hpp"

namespace mapreduce::detail {
namespace {

constexpr std::size_t max_mapped_files = 64;
constexpr std::size_t max_held_files = 1024;

// Reads a pipe to its end into an unnamed file the workers can map: shared memory up to
// `max_bytes` (the job's budget), then, where the job may spill, a file in `spill_dir` that
// takes what is already read and the rest; past the budget with nowhere to spill, an
// InputError. `in_memory` says where it ended.
UniqueFd buffer_pipe(int fd, const std::string& name, std::size_t max_bytes, const std::string& spill_dir,
                     std::uint64_t& size, bool& in_memory) {
  UniqueFd out(::memfd_create("mapreduce-input", MFD_CLOEXEC));
  if (!out) throw Error(fmt::format("{}: cannot buffer the pipe: {}", name, std::strerror(errno)));
  in_memory = true;
  std::vector<char> buf(std::size_t(1) << 16);
  // A failed write is the buffer's (a full disk), not the input's: an Error, not an InputError.
  std::string cannot = name + ": cannot buffer the pipe";
  size = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) {
        throw_if_interrupted();
        continue;
      }
      throw InputError(fmt::format("{}: read failed: {}", name, std::strerror(errno)));
    }
    if (in_memory && size + static_cast<std::size_t>(n) > max_bytes) {
      if (spill_dir.empty()) {
        throw InputError(fmt::format("{}: a pipe of more than {} bytes (the shared-memory budget) cannot be buffered",
                                     name, max_bytes));
      }
      // Past the budget: what was read moves to a spill file, and the rest follows it there.
      UniqueFd memory = std::exchange(out, create_spill_file(spill_dir));
      in_memory = false;
      cannot += " in " + spill_dir;
      const MappedRegion read = MappedRegion::map(memory.get(), static_cast<std::size_t>(size), false, name);
      write_fully(out.get(), std::string_view(read.data(), read.size()), cannot);
    }
    write_fully(out.get(), std::string_view(buf.data(), static_cast<std::size_t>(n)), cannot);
    size += static_cast<std::uint64_t>(n);
  }
  return out;
}

}  // namespace

FilePlan::FilePlan(const FileInput& input, std::size_t chunk_bytes, std::size_t max_pipe_bytes,
                   const std::string& spill_dir)
    : delimiter_(input.delimiter) {
  if (chunk_bytes == 0) throw OptionsError("chunk_bytes must be at least 1");
  files_.reserve(input.paths.size());
  for (const auto& path : input.paths) {
    File f;
    f.name = path.string();
    const bool is_stdin = f.name == "-";
    if (is_stdin) f.name = "standard input";
    UniqueFd fd(is_stdin ? ::fcntl(0, F_DUPFD_CLOEXEC, 3) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    // Up to max_held_files stay open for the job: the limit on descriptors rises before
    // the next open could fail on it (for this job only, see DescriptorLimitScope).
    if (fd) ensure_descriptor_headroom(fd.get(), 32);
    if (!fd) throw InputError(fmt::format("{}: cannot open: {}", f.name, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw InputError(fmt::format("{}: cannot stat: {}", f.name, std::strerror(errno)));
    if (S_ISDIR(st.st_mode)) throw InputError(fmt::format("{}: is a directory", f.name));
    if (S_ISREG(st.st_mode)) {
      f.size = static_cast<std::uint64_t>(st.st_size);
      // Keep the descriptor the checks were made on, so workers read this very file even
      // if the path is renamed or replaced meanwhile; past max_held_files, reopen by path.
      if (is_stdin || input.paths.size() <= max_held_files) {
        f.fd = fd.get();
        fds_.push_back(std::move(fd));
      }
    } else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (is_stdin && S_ISCHR(st.st_mode))) {
      // Standard input from a device too (`< /dev/null`, a terminal), as `sort` takes it; a
      // device named as a path is refused (/dev/zero would never end).
      bool in_memory = false;
      UniqueFd buffered = buffer_pipe(fd.get(), f.name, max_pipe_bytes, spill_dir, f.size, in_memory);
      if (in_memory) buffered_bytes_ += f.size;
      f.fd = buffered.get();
      fds_.push_back(std::move(buffered));
    } else {
      throw InputError(fmt::format("{}: not a regular file or a pipe", f.name));
    }
    total_bytes_ += f.size;
    files_.push_back(std::move(f));
  }

  // Pieces of at most chunk_bytes; small files share a task until it holds chunk_bytes.
  task_begin_.push_back(0);
  std::uint64_t in_task = 0;
  for (std::uint32_t i = 0; i < files_.size(); ++i) {
    std::uint64_t off = 0;
    while (off < files_[i].size) {
      const std::uint64_t take = std::min<std::uint64_t>(files_[i].size - off, chunk_bytes - in_task);
      splits_.push_back(InputSplit{i, off, off + take});
      off += take;
      in_task += take;
      if (in_task >= chunk_bytes) {
        task_begin_.push_back(splits_.size());
        in_task = 0;
      }
    }
  }
  if (in_task > 0) task_begin_.push_back(splits_.size());
  maps_.resize(files_.size());
}

std::string FilePlan::describe(std::size_t task) const {
  const InputSplit& first = splits_[task_begin_[task]];
  const InputSplit& last = splits_[task_begin_[task + 1] - 1];
  if (first.file == last.file) return fmt::format("{} bytes {}-{}", files_[first.file].name, first.begin, last.end);
  return fmt::format("{} byte {} to {} byte {}", files_[first.file].name, first.begin, files_[last.file].name,
                     last.end);
}

void FilePlan::check_unchanged(std::size_t task) const {
  for (std::size_t i = task_begin_[task]; i < task_begin_[task + 1]; ++i) {
    const File& f = files_[splits_[i].file];
    struct stat st {};
    const int r = f.fd >= 0 ? ::fstat(f.fd, &st) : ::stat(f.name.c_str(), &st);
    if (r == 0 && static_cast<std::uint64_t>(st.st_size) < f.size) {
      throw InputError(fmt::format("{}: the file shrank from {} to {} bytes while the job ran", f.name, f.size,
                                   static_cast<std::uint64_t>(st.st_size)));
    }
  }
}

const char* FilePlan::mapped(std::uint32_t file) {
  if (maps_[file].data() != nullptr) return maps_[file].data();
  const File& f = files_[file];
  UniqueFd own;
  int fd = f.fd;
  if (fd < 0) {
    own.reset(::open(f.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!own) throw InputError(fmt::format("{}: cannot open: {}", f.name, std::strerror(errno)));
    fd = own.get();
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(fmt::format("{}: cannot stat: {}", f.name, std::strerror(errno)));
  if (static_cast<std::uint64_t>(st.st_size) < f.size) {
    throw InputError(fmt::format("{}: the file shrank from {} to {} bytes while the job ran", f.name, f.size,
                                 static_cast<std::uint64_t>(st.st_size)));
  }
  if (mapped_order_.size() >= max_mapped_files) {
    maps_[mapped_order_.front()].reset();
    mapped_order_.pop_front();
  }
  maps_[file] = MappedRegion::map(fd, f.size, false, f.name);
  maps_[file].advise_sequential();
  mapped_order_.push_back(file);
  return maps_[file].data();
}

std::string_view FilePlan::records_of(const InputSplit& split) {
  const char* data = mapped(split.file);
  const auto [first, last] = owned_records(data, files_[split.file].size, split.begin, split.end, delimiter_);
  if (first >= last) return {};
  return {data + first, static_cast<std::size_t>(last - first)};
}

}  // namespace mapreduce::detail
