#pragma once
// What the benchmarks' threaded baselines share: a whole file mapped read-only, as the Pool
// maps its inputs, and its cut into pieces at line boundaries, as the Pool cuts its tasks.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mapreduce/detail/split.hpp>
#include <mapreduce/error.hpp>

namespace bench {

class MappedFile {
 public:
  // Throws mapreduce::InputError naming `path` when it cannot be opened or mapped.
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw mapreduce::InputError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw mapreduce::InputError(fmt::format("{} is not a regular file", path));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw mapreduce::InputError(fmt::format("cannot map {}: {}", path, std::strerror(error)));
      }
      data_ = static_cast<const char*>(data);
      ::madvise(data, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (size_ > 0) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  [[nodiscard]] std::string_view text() const noexcept { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Cuts `text` into pieces of about `piece` bytes at line boundaries.
inline std::vector<std::string_view> pieces(std::string_view text, std::size_t piece) {
  std::vector<std::string_view> out;
  for (std::uint64_t b = 0; b < text.size(); b += piece) {
    const auto [first, last] = mapreduce::detail::owned_records(text.data(), text.size(), b,
                                                                std::min<std::uint64_t>(text.size(), b + piece), '\n');
    if (first < last) out.emplace_back(text.data() + first, last - first);
  }
  return out;
}

}  // namespace bench
