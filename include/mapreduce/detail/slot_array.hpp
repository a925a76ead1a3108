#pragma once
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace mapreduce::detail {

// Arrays of this many bytes or more are aligned on, and ask for, transparent huge pages.
inline constexpr std::size_t huge_page_bytes = std::size_t(2) << 20;

// `bytes` bytes of the kernel's zero pages, private to this process (nullptr for 0); with
// `huge`, aligned on huge_page_bytes and advised MADV_HUGEPAGE. Throws std::bad_alloc.
// Out of line (src/slot_array.cpp) so that this header, reached from the public ones,
// does not bring <sys/mman.h> to users; they run once per table growth, not per element.
void* allocate_zeroed(std::size_t bytes, bool huge);
void release_zeroed(void* p, std::size_t bytes) noexcept;

// A zero-initialized array for hash-table slots. Slots that are trivially copyable come
// straight from mmap: the kernel's pages are already zero (so an empty table costs no
// writes), and arrays of 2 MiB or more ask for transparent huge pages, which spares most
// TLB misses of random probes. Other slots use new[] and value-initialization.
template <class T>
class SlotArray {
  static constexpr bool mapped = std::is_trivially_copyable_v<T>;

 public:
  SlotArray() noexcept = default;
  explicit SlotArray(std::size_t n) : n_(n) {
    if constexpr (mapped) {
      const std::size_t bytes = n * sizeof(T);
      data_ = static_cast<T*>(allocate_zeroed(bytes, bytes >= huge_page_bytes));
      bytes_ = bytes;
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
    if (bytes_ != 0) release_zeroed(data_, bytes_);
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
