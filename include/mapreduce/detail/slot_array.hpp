#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace mapreduce::detail {

// A zero-initialized array for hash-table slots. Slots that are trivially copyable come
// straight from mmap: the kernel's pages are already zero (so an empty table costs no
// writes), and arrays of 2 MiB or more ask for transparent huge pages, which spares most
// TLB misses of random probes. Other slots use new[] and value-initialization.
template <class T>
class SlotArray {
  static constexpr bool mapped = std::is_trivially_copyable_v<T>;
  static constexpr std::size_t huge_page = std::size_t(2) << 20;

 public:
  SlotArray() noexcept = default;
  explicit SlotArray(std::size_t n) : n_(n) {
    if constexpr (mapped) {
      const std::size_t bytes = n * sizeof(T);
      if (bytes >= huge_page) {
        // Over-allocate to align on a huge page, then trim the ends.
        const std::size_t len = bytes + huge_page;
        void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        auto* base = static_cast<char*>(p);
        auto* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(base) + huge_page - 1) & ~(huge_page - 1));
        if (aligned > base) ::munmap(base, static_cast<std::size_t>(aligned - base));
        const std::size_t tail = static_cast<std::size_t>(base + len - (aligned + bytes));
        if (tail > 0) ::munmap(aligned + bytes, tail);
        ::madvise(aligned, bytes, MADV_HUGEPAGE);
        data_ = reinterpret_cast<T*>(aligned);
        bytes_ = bytes;
      } else {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        data_ = static_cast<T*>(p);
        bytes_ = bytes;
      }
    } else {
      owned_ = std::make_unique<T[]>(n);
      data_ = owned_.get();
    }
  }
  SlotArray(SlotArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), n_(std::exchange(o.n_, 0)), bytes_(std::exchange(o.bytes_, 0)),
        owned_(std::move(o.owned_)) {}
  SlotArray& operator=(SlotArray&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      n_ = std::exchange(o.n_, 0);
      bytes_ = std::exchange(o.bytes_, 0);
      owned_ = std::move(o.owned_);
    }
    return *this;
  }
  ~SlotArray() { release(); }

  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  void release() noexcept {
    if (bytes_ != 0) ::munmap(data_, bytes_);
    owned_.reset();
    data_ = nullptr;
    bytes_ = 0;
  }
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;  // mapped bytes; 0 when owned_ holds the slots
  std::unique_ptr<T[]> owned_;
};

}  // namespace mapreduce::detail
