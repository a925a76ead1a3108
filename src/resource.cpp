#include "mapreduce/detail/resource.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <boost/interprocess/detail/os_file_functions.hpp>
#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way, and a
  // retry could close a descriptor another thread has just been given.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace bip = boost::interprocess;

namespace {

// What mapped_region's constructor asks of a "MemoryMappable": the handle to map (and, as
// Boost's own mappables offer it, the mode it is open in). Boost's mappables open what they
// map themselves, by path (file_mapping) or by a name in /dev/shm (shared_memory_object),
// and a name there would outlive a worker killed by SIGKILL. This one lends the descriptor
// the engine already holds (a memfd, an O_TMPFILE spill file, an input file): nothing is
// named, nothing opened. It borrows the descriptor; mmap needs it only while mapping.
class BorrowedFd {
 public:
  BorrowedFd(int fd, bip::mode_t mode) noexcept : fd_(fd), mode_(mode) {}
  [[nodiscard]] bip::mapping_handle_t get_mapping_handle() const noexcept {
    return bip::ipcdetail::mapping_handle_from_file_handle(fd_);
  }
  [[nodiscard]] bip::mode_t get_mode() const noexcept { return mode_; }

 private:
  int fd_;
  bip::mode_t mode_;
};

}  // namespace

struct MappedRegion::Region {
  bip::mapped_region region;
};

void MappedRegion::Unmap::operator()(Region* r) const noexcept { delete r; }  // munmap; never throws

MappedRegion MappedRegion::map(int fd, std::size_t size, bool writable, const std::string& what) {
  MappedRegion r;
  if (size == 0) return r;  // to mapped_region, a size of 0 means "the whole file"
  try {
    r.region_.reset(new Region{bip::mapped_region(BorrowedFd(fd, writable ? bip::read_write : bip::read_only),
                                                  writable ? bip::read_write : bip::read_only, 0, size)});
  } catch (const bip::interprocess_exception& e) {
    throw Error(fmt::format("{}: cannot map {} bytes: {}", what, size, e.what()));
  }
  r.data_ = static_cast<char*>(r.region_->region.get_address());
  r.size_ = size;
  return r;
}

void MappedRegion::advise_sequential() const noexcept {
  if (region_) region_->region.advise(bip::mapped_region::advice_sequential);
}

void MappedRegion::populate(std::size_t offset, std::size_t length, bool write) const noexcept {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;   // NOLINT: the kernel's value, for older headers
  constexpr int MADV_POPULATE_WRITE = 23;  // NOLINT
#endif
  if (!region_ || offset >= size_ || length == 0) return;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t first = offset / page * page;
  const std::size_t last = std::min(size_, offset + length);
  ::madvise(data_ + first, last - first, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

void SharedSegment::start_writeback() const noexcept {
  if (in_file_ && fd_) ::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
}

namespace {
// A new, empty, anonymous memfd.
UniqueFd new_memfd() {
  UniqueFd fd(::memfd_create("mapreduce-run", MFD_CLOEXEC));
  if (!fd) throw Error(fmt::format("cannot create a shared-memory segment: {}", std::strerror(errno)));
  return fd;
}
}  // namespace

SharedSegment SharedSegment::create(std::size_t bytes) {
  SharedSegment s;
  s.fd_ = new_memfd();
  if (bytes == 0) return s;
  // Reserve every page now: a page that cannot be backed later would be a SIGBUS on write.
  if (const int err = ::posix_fallocate(s.fd_.get(), 0, static_cast<off_t>(bytes)); err != 0) {
    throw Error(fmt::format("cannot reserve {} bytes of shared memory: {}", bytes, std::strerror(err)));
  }
  s.region_ = MappedRegion::map(s.fd_.get(), bytes, true, "shared-memory segment");
  s.region_.populate(0, bytes, true);  // it is written whole, at once
  return s;
}

UniqueFd create_spill_file(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // A file system without O_TMPFILE: a private name, unlinked at once.
    std::string path = dir + "/mapreduce-spill-XXXXXX";
    fd.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (fd) ::unlink(path.c_str());
  }
  if (!fd) throw Error(fmt::format("cannot create a spill file in {}: {}", dir, std::strerror(errno)));
  return fd;
}

void write_fully(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ::ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("{}: {}", what, std::strerror(errno)));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

SharedSegment SharedSegment::create_file(std::size_t bytes, const std::string& dir) {
  SharedSegment s;
  s.fd_ = create_spill_file(dir);
  s.in_file_ = true;
  if (bytes == 0) return s;
  // Reserve the blocks now: a write into a mapped page the disk cannot hold is a SIGBUS.
  if (const int err = ::posix_fallocate(s.fd_.get(), 0, static_cast<off_t>(bytes)); err != 0) {
    throw Error(fmt::format("cannot spill {} bytes to {}: {}", bytes, dir, std::strerror(err)));
  }
  s.region_ = MappedRegion::map(s.fd_.get(), bytes, true, "spill file");
  return s;
}

SharedSegment SharedSegment::create_written(std::size_t bytes, const std::vector<std::string_view>& pieces,
                                            const std::string& dir) {
  SharedSegment s;
  if (dir.empty()) {
    s.fd_ = new_memfd();
  } else {
    s.fd_ = create_spill_file(dir);
    s.in_file_ = true;
  }
  const auto what = [&] {
    return dir.empty() ? fmt::format("cannot write {} bytes of shared memory", bytes)
                       : fmt::format("cannot spill {} bytes to {}", bytes, dir);
  };
  // The size first: what the pieces do not fill (a reader's slack) reads as zeros.
  if (::ftruncate(s.fd_.get(), static_cast<off_t>(bytes)) != 0) {
    throw Error(fmt::format("{}: {}", what(), std::strerror(errno)));
  }
  std::vector<::iovec> iov;
  iov.reserve(pieces.size());
  std::size_t total = 0;
  for (const std::string_view piece : pieces) {
    if (piece.empty()) continue;
    iov.push_back(::iovec{const_cast<char*>(piece.data()), piece.size()});  // NOLINT: pwritev only reads
    total += piece.size();
  }
  if (total > bytes) throw Error(fmt::format("{}: {} bytes to write into it", what(), total));
  std::size_t first = 0;
  off_t at = 0;
  while (first < iov.size()) {
    constexpr std::size_t max_iov = 1024;  // UIO_MAXIOV: Linux takes no more in one call
    const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, max_iov));
    const ::ssize_t n = ::pwritev(s.fd_.get(), iov.data() + first, count, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(fmt::format("{}: {}", what(), std::strerror(errno)));
    if (n == 0) throw Error(fmt::format("{}: the write made no progress", what()));
    at += n;
    // Step over the pieces written whole; a piece written in part is cut to the rest.
    for (auto left = static_cast<std::size_t>(n); left != 0;) {
      ::iovec& v = iov[first];
      const std::size_t step = std::min(left, v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + step;
      v.iov_len -= step;
      left -= step;
      if (v.iov_len == 0) ++first;
    }
  }
  s.written_ = bytes;
  return s;
}

SharedSegment SharedSegment::open(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(fmt::format("shared-memory segment: {}", std::strerror(errno)));
  SharedSegment s;
  s.region_ = MappedRegion::map(fd, static_cast<std::size_t>(st.st_size), false, "shared-memory segment");
  return s;
}

}  // namespace mapreduce::detail
