#include "mapreduce/detail/resource.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way, and a
  // retry could close a descriptor another thread has just been given.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

MappedRegion MappedRegion::map(int fd, std::size_t size, bool writable, const std::string& what) {
  MappedRegion r;
  if (size == 0) return r;
  const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw Error(fmt::format("{}: cannot map {} bytes: {}", what, size, std::strerror(errno)));
  r.data_ = p;
  r.size_ = size;
  return r;
}

void MappedRegion::reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

SharedSegment SharedSegment::create(std::size_t bytes) {
  SharedSegment s;
  s.fd_.reset(::memfd_create("mapreduce-run", MFD_CLOEXEC));
  if (!s.fd_) throw Error(fmt::format("cannot create a shared-memory segment: {}", std::strerror(errno)));
  if (bytes == 0) return s;
  // Reserve every page now: a page that cannot be backed later would be a SIGBUS on write.
  if (const int err = ::posix_fallocate(s.fd_.get(), 0, static_cast<off_t>(bytes)); err != 0) {
    throw Error(fmt::format("cannot reserve {} bytes of shared memory: {}", bytes, std::strerror(err)));
  }
  s.region_ = MappedRegion::map(s.fd_.get(), bytes, true, "shared-memory segment");
  return s;
}

SharedSegment SharedSegment::create_file(std::size_t bytes, const std::string& dir) {
  SharedSegment s;
  s.fd_.reset(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!s.fd_ && (errno == EOPNOTSUPP || errno == EISDIR)) {
    // A file system without O_TMPFILE: a private name, unlinked at once.
    std::string path = dir + "/mapreduce-spill-XXXXXX";
    s.fd_.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (s.fd_) ::unlink(path.c_str());
  }
  if (!s.fd_) throw Error(fmt::format("cannot create a spill file in {}: {}", dir, std::strerror(errno)));
  s.in_file_ = true;
  if (bytes == 0) return s;
  // Reserve the blocks now: a write into a mapped page the disk cannot hold is a SIGBUS.
  if (const int err = ::posix_fallocate(s.fd_.get(), 0, static_cast<off_t>(bytes)); err != 0) {
    throw Error(fmt::format("cannot spill {} bytes to {}: {}", bytes, dir, std::strerror(err)));
  }
  s.region_ = MappedRegion::map(s.fd_.get(), bytes, true, "spill file");
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
