#include "mapreduce/detail/slot_array.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <new>

namespace mapreduce::detail {

void* allocate_zeroed(std::size_t bytes, bool huge) {
  if (bytes == 0) return nullptr;
  if (!huge) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // Over-allocate to align on a huge page, then trim the ends: the kernel only backs an
  // aligned 2 MiB range with a huge page.
  const std::size_t len = bytes + huge_page_bytes;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<char*>(p);
  auto* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(base) + huge_page_bytes - 1) &
                                          ~(huge_page_bytes - 1));
  if (aligned > base) ::munmap(base, static_cast<std::size_t>(aligned - base));
  const std::size_t tail = static_cast<std::size_t>(base + len - (aligned + bytes));
  if (tail > 0) ::munmap(aligned + bytes, tail);
  ::madvise(aligned, bytes, MADV_HUGEPAGE);  // a hint: without huge pages, only slower
  return aligned;
}

void release_zeroed(void* p, std::size_t bytes) noexcept {
  if (p != nullptr && bytes != 0) ::munmap(p, bytes);
}

}  // namespace mapreduce::detail
