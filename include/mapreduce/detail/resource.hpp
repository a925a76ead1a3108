#pragma once
// RAII owners of the OS resources a job holds: file descriptors, mappings and shared
// segments. Their destructors never throw; an exception never leaves one behind.
#include <cstddef>
#include <string>
#include <utility>

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

// A memory mapping, unmapped on destruction.
class MappedRegion {
 public:
  MappedRegion() noexcept = default;
  MappedRegion(MappedRegion&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~MappedRegion() { reset(); }

  // Maps `size` bytes of `fd` shared; an empty size maps nothing. `what` names the
  // mapping in the error message.
  static MappedRegion map(int fd, std::size_t size, bool writable, const std::string& what);

  [[nodiscard]] char* data() const noexcept { return static_cast<char*>(data_); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  void reset() noexcept;

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

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
  static SharedSegment open(int fd);                // read-only mapping of a borrowed fd

  [[nodiscard]] char* data() const noexcept { return region_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return region_.size(); }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool in_file() const noexcept { return in_file_; }

 private:
  UniqueFd fd_;
  MappedRegion region_;
  bool in_file_ = false;
};

}  // namespace mapreduce::detail
