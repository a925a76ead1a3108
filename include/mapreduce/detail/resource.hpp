#pragma once
// RAII owners of the OS resources a job holds: file descriptors, mappings and shared
// segments. Their destructors never throw; an exception never leaves one behind.
//
// This header is reached from the public ones (pool.hpp -> detail/job_runner.hpp ->
// detail/phase.hpp -> here), so it includes no OS or Boost header: users of the library
// must not get <sys/mman.h>, <fcntl.h> or Boost.Interprocess with it.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mapreduce::detail {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;  // closes the old one; close() is never retried (EINTR)

 private:
  int fd_ = -1;
};

// A shared mapping of a descriptor the engine holds, unmapped on destruction. The mapping
// is a boost::interprocess::mapped_region, but only src/resource.cpp sees that type: its
// header brings the OS headers this one must keep out. So the region is held through a
// pointer (one allocation per mapping, beside an mmap system call), and its address and
// size are copied here, so that data() and size() stay inline on the hot paths.
class MappedRegion {
 public:
  MappedRegion() noexcept = default;
  MappedRegion(MappedRegion&& o) noexcept
      : region_(std::move(o.region_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept {
    if (this != &o) {
      region_ = std::move(o.region_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~MappedRegion() = default;

  // Maps `size` bytes of `fd` shared; an empty size maps nothing (mapped_region cannot map
  // 0 bytes). The descriptor is only borrowed: it may be closed once this returns. Throws
  // Error, whose message names `what` and the reason.
  static MappedRegion map(int fd, std::size_t size, bool writable, const std::string& what);

  [[nodiscard]] char* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // Tells the kernel the pages will be read in order (read ahead, drop behind). A hint: a
  // failure changes nothing but speed, so it is ignored.
  void advise_sequential() const noexcept;
  // Maps the pages of [offset, offset + length) into the page table now, in one call, rather
  // than one fault at a time as they are touched (MADV_POPULATE_*, Linux 5.14; a no-op
  // where the kernel lacks it). `write`: for pages about to be written.
  void populate(std::size_t offset, std::size_t length, bool write) const noexcept;
  void reset() noexcept {
    region_.reset();
    data_ = nullptr;
    size_ = 0;
  }

 private:
  struct Region;  // a boost::interprocess::mapped_region, defined in src/resource.cpp
  struct Unmap {
    void operator()(Region* r) const noexcept;
  };
  std::unique_ptr<Region, Unmap> region_;
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Writes all of `bytes` to `fd`, again after a short write or EINTR. Throws Error
// "WHAT: the reason" (a full disk, say).
void write_fully(int fd, std::string_view bytes, const std::string& what);

// A new unnamed file in `dir` (O_TMPFILE, 0600; where the file system lacks it, a private
// name unlinked at once): gone with its last descriptor. Throws Error naming `dir`.
UniqueFd create_spill_file(const std::string& dir);

// A shared-memory segment: an anonymous memfd (never a name in /dev/shm), so it is freed
// when its last descriptor and mapping go, whatever happens to the processes holding them.
// create() reserves every page with fallocate, so writing into it cannot raise SIGBUS
// when memory runs short: the shortage is an exception at creation instead.
class SharedSegment {
 public:
  SharedSegment() noexcept = default;
  static SharedSegment create(std::size_t bytes);  // writable, in memory
  // Writable, in an unnamed file of `dir` (O_TMPFILE, mode 0600): the spill path. The
  // file has no name to find or to leave behind; it goes with its last descriptor.
  static SharedSegment create_file(std::size_t bytes, const std::string& dir);
  static SharedSegment open(int fd);  // read-only mapping of a borrowed fd
  // A segment of `bytes` (in memory, or with a `dir`, in a spill file there) whose contents
  // are `pieces`, one after another, then zeros: written with pwritev and never mapped here.
  // The kernel makes each page as it copies the bytes in, so the writer pays no zeroing,
  // mapping or unmapping of the pages, and no copy of its own; a shortage of memory or disk
  // is an error of the write (Error), not a SIGBUS. data() is null.
  static SharedSegment create_written(std::size_t bytes, const std::vector<std::string_view>& pieces,
                                      const std::string& dir = {});

  [[nodiscard]] char* data() const noexcept { return region_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return region_.data() != nullptr ? region_.size() : written_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool in_file() const noexcept { return in_file_; }
  // A spill file: starts writing its pages to disk now, without waiting. Dirty pages cannot
  // be evicted, and a cgroup's memory limit counts them: left to the kernel's 30-second
  // flush, a job that spills under a limit stalls in reclaim instead of reading on.
  void start_writeback() const noexcept;
  // See MappedRegion::populate.
  void populate(std::size_t offset, std::size_t length) const noexcept { region_.populate(offset, length, false); }

 private:
  UniqueFd fd_;
  MappedRegion region_;
  std::size_t written_ = 0;  // the size of a segment made by create_written
  bool in_file_ = false;
};

}  // namespace mapreduce::detail
