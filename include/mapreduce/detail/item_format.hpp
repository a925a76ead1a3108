#pragma once
// The item results of Pool::map and imap: one block per task, several blocks to a segment
// (or one block in a message). Writer and reader side by side.
//
//   [task u64][results u64][bytes u64] then `bytes` of results, each as its Codec writes it
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce::detail {

struct ItemBlockHeader {
  std::uint64_t task;
  std::uint64_t results;
  std::uint64_t bytes;  // of the results that follow
};
inline constexpr std::size_t item_block_header_bytes = sizeof(ItemBlockHeader);
static_assert(item_block_header_bytes == 24);

// Appends one task's block to `out`: begin(), then add() each result, then end().
template <class R>
class ItemBlockWriter {
 public:
  ItemBlockWriter(std::vector<char>& out, std::uint64_t task) : out_(out), at_(out.size()), task_(task) {
    out_.resize(at_ + item_block_header_bytes);
  }
  void add(const R& r) {
    const std::size_t pos = out_.size();
    out_.resize(pos + Codec<R>::size(r));
    char* end = Codec<R>::write(out_.data() + pos, r);
    // A Codec that writes less than it said leaves garbage; one that writes more has already
    // overrun (the sanitizers see that): either way its reader would misread what follows.
    if (end != out_.data() + out_.size()) {
      throw Error(fmt::format("Codec mismatch: size() said {} bytes, write() wrote {}", out_.size() - pos,
                              end - (out_.data() + pos)));
    }
    ++results_;
  }
  // Writes the header; returns the number of results.
  std::uint64_t end() {
    const ItemBlockHeader h{task_, results_, out_.size() - at_ - item_block_header_bytes};
    std::memcpy(out_.data() + at_, &h, sizeof(h));
    return results_;
  }

 private:
  std::vector<char>& out_;
  std::size_t at_;
  std::uint64_t task_;
  std::uint64_t results_ = 0;
};

// One block, located in a buffer.
struct ItemBlock {
  ItemBlockHeader header;
  const char* results;  // header.bytes of them

  // Decodes the results, checking that they fill exactly the bytes the block says.
  template <class R, class Out>
  void decode(Out&& push) const {
    const char* r = results;
    const char* const end = results + header.bytes;
    for (std::uint64_t i = 0; i < header.results; ++i) {
      push(Codec<R>::read(r));
      if (r > end) throw_overrun("item results");
    }
  }
};

// f(ItemBlock) for each block of `data`, checking each against the end.
template <class F>
void for_each_item_block(std::string_view data, F&& f) {
  const char* p = data.data();
  const char* const end = data.data() + data.size();
  while (p < end) {
    if (static_cast<std::size_t>(end - p) < item_block_header_bytes) throw Error("corrupt item results: a cut header");
    ItemBlock b{};
    std::memcpy(&b.header, p, sizeof(b.header));
    p += item_block_header_bytes;
    if (b.header.bytes > static_cast<std::size_t>(end - p)) throw Error("corrupt item results: a block past the end");
    b.results = p;
    p += b.header.bytes;
    f(b);
  }
}

}  // namespace mapreduce::detail
