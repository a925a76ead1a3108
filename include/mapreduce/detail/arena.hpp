#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace mapreduce::detail {

// Bump allocator for key bytes. Blocks never move, so views into them stay valid until
// clear(); one allocation per block instead of one per key.
class Arena {
 public:
  std::string_view copy(std::string_view s) {
    char* p = allocate(s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }
  // n bytes, unaligned, valid until clear().
  char* allocate(std::size_t n) {
    if (n > left_) grow(n);
    char* p = cursor_;
    cursor_ += n;
    left_ -= n;
    return p;
  }
  void clear() noexcept {
    blocks_.clear();
    cursor_ = nullptr;
    left_ = 0;
    bytes_ = 0;
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  void grow(std::size_t need) {
    const std::size_t n = std::max<std::size_t>(need, block_bytes);
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(n));
    cursor_ = blocks_.back().get();
    left_ = n;
    bytes_ += n;
  }
  static constexpr std::size_t block_bytes = std::size_t(1) << 20;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cursor_ = nullptr;
  std::size_t left_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace mapreduce::detail
