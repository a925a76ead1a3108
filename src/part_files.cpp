#include "mapreduce/detail/part_file_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <vector>

#include <fmt/format.h>

namespace mapreduce::detail {
namespace fs = std::filesystem;

int open_for_writing(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(fmt::format("{}: cannot open for writing: {}", path, std::strerror(errno)));
  return fd;
}

int open_for_reading(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  return fd;
}

std::uint64_t file_size(int fd, const std::string& path) {
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(fmt::format("{}: cannot stat: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw InputError(fmt::format("{}: not a regular file", path));
  return static_cast<std::uint64_t>(st.st_size);
}

void close_checked(UniqueFd& fd, const std::string& path) {
  // Some file systems (NFS) report a failed write only at close.
  if (::close(fd.release()) != 0 && errno != EINTR) {
    throw Error(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  }
}

namespace {

// Whether `name` is a part file's: "part-" then five or more digits.
bool is_part_name(const std::string& name) {
  if (name.size() < 10 || name.compare(0, 5, "part-") != 0) return false;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return true;
}

void remove_tree(const fs::path& dir) noexcept {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

PartDirectory::PartDirectory(const PartFiles& files) : final_(files.directory.lexically_normal()) {
  target_.format = files.format;
  // "out/" names the directory "out": its temporary twin goes beside it, not inside.
  if (!final_.has_filename()) final_ = final_.parent_path();
  const std::string name = final_.string();
  if (final_.empty()) throw InputError("PartFiles::directory is empty");
  std::error_code ec;
  const auto status = fs::symlink_status(final_, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) throw InputError(fmt::format("{}: exists and is not a directory", name));
    // Replacing a directory that holds anything but an earlier output would delete the user's
    // files with it.
    for (const auto& entry : fs::directory_iterator(final_, ec)) {
      const std::string entry_name = entry.path().filename().string();
      std::error_code type_ec;
      if (!is_part_name(entry_name) || !fs::is_regular_file(entry.symlink_status(type_ec))) {
        throw InputError(
            fmt::format("{}: holds {}, which is not a part file: give an empty or new directory", name, entry_name));
      }
    }
    if (ec) throw InputError(fmt::format("{}: cannot read the directory: {}", name, ec.message()));
  }
  fs::path parent = final_.parent_path();
  if (parent.empty()) parent = ".";
  // mkdir rather than mkdtemp: the directory gets the mode any directory made here gets
  // (0777 less the umask), and it becomes the output as it is.
  static std::atomic<unsigned> made{0};
  for (;;) {
    std::string temp = (parent / fmt::format(".{}.tmp-{}-{}", final_.filename().string(), ::getpid(), made++)).string();
    if (::mkdir(temp.c_str(), 0777) == 0) {
      target_.directory = std::move(temp);
      return;
    }
    if (errno != EEXIST) {
      throw InputError(fmt::format("{}: cannot make a directory beside it: {}", name, std::strerror(errno)));
    }
  }
}

PartDirectory::~PartDirectory() {
  if (!committed_) remove_tree(target_.directory);
}

PartFilesWritten PartDirectory::commit(std::uint32_t partitions, const std::vector<SmallResult>& reports) {
  PartFilesWritten written;
  std::vector<std::uint8_t> counted(partitions, 0);
  for (const SmallResult& r : reports) {
    std::uint64_t pairs = 0;
    if (r.tag >= partitions || r.data.size() != sizeof(pairs)) throw Error("worker channel: a bad part file report");
    std::memcpy(&pairs, r.data.data(), sizeof(pairs));
    if (counted[r.tag] == 0) written.pairs += pairs;  // a partition run again reports again
    counted[r.tag] = 1;
  }
  const std::vector<std::pair<std::string_view, int>> none;
  for (std::uint32_t p = 0; p < partitions; ++p) {
    const fs::path file = fs::path(target_.directory) / part_file_name(p);
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      // A partition no reducer had keys for (or a job with no input) still gets its file.
      write_part_file<std::string, int>(file.string(), target_.format, none);
    }
    const std::uintmax_t bytes = fs::file_size(file, ec);
    if (ec) throw Error(fmt::format("{}: cannot stat: {}", file.string(), ec.message()));
    written.bytes += bytes;
    written.files.push_back(final_ / part_file_name(p));
  }
  const std::string name = final_.string();
  if (::renameat2(AT_FDCWD, target_.directory.c_str(), AT_FDCWD, name.c_str(), RENAME_EXCHANGE) == 0) {
    committed_ = true;
    remove_tree(target_.directory);  // now the old output
    return written;
  }
  if (errno == EINVAL || errno == ENOSYS) {
    // A file system without exchange: move the old output aside, then the new one in.
    const std::string aside = target_.directory + ".old";
    if (::rename(name.c_str(), aside.c_str()) != 0 && errno != ENOENT) {
      throw Error(fmt::format("{}: cannot replace the output: {}", name, std::strerror(errno)));
    }
    if (::rename(target_.directory.c_str(), name.c_str()) != 0) {
      const int error = errno;
      ::rename(aside.c_str(), name.c_str());
      throw Error(fmt::format("{}: cannot write the output: {}", name, std::strerror(error)));
    }
    committed_ = true;
    remove_tree(aside);
    return written;
  }
  if (errno == ENOENT && ::rename(target_.directory.c_str(), name.c_str()) == 0) {
    committed_ = true;
    return written;
  }
  throw Error(fmt::format("{}: cannot write the output: {}", name, std::strerror(errno)));
}

}  // namespace mapreduce::detail
