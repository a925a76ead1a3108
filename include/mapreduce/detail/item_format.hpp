#pragma once
// The item results of Pool::map and imap: one block per task, several blocks to a segment
// (or one block in a message). Writer and reader side by side.
//
//   [task u64][results u64][bytes u64] then `bytes` of results, each as its Codec writes it
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
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
  ItemBlockWriter(ByteBuffer& out, std::uint64_t task) : out_(out), at_(out.size()), task_(task) {
    out_.extend(item_block_header_bytes);
  }
  void add(const R& r) {
    const std::size_t bytes = Codec<R>::size(r);
    // The buffer keeps codec_slack bytes after these: a user's write() that overruns its
    // size() a little is caught here, before it reaches memory not ours.
    write_value<R>(out_.extend(bytes), r, bytes);
    ++results_;
  }
  // Writes the header; returns the number of results.
  std::uint64_t end() {
    const ItemBlockHeader h{task_, results_, out_.size() - at_ - item_block_header_bytes};
    std::memcpy(out_.data() + at_, &h, sizeof(h));
    return results_;
  }

 private:
  ByteBuffer& out_;
  std::size_t at_;
  std::uint64_t task_;
  std::uint64_t results_ = 0;
};

// One block, located in a buffer.
struct ItemBlock {
  ItemBlockHeader header;
  const char* results;  // header.bytes of them

  // Decodes the results, checking that they fill exactly the bytes the block says. With a
  // user's Codec, codec_slack readable bytes must follow the block (PaddedBytes).
  template <class R, class Out>
  void decode(Out&& push) const {
    static constexpr ReadSite what = read_site<std::uint64_t, R>("item results");
    const char* r = results;
    const char* const end = results + header.bytes;
    // Each result takes a byte at least with the library's Codecs: a count beyond the
    // bytes is bad bytes, not a reason to loop for ever.
    if constexpr (trusted_codec<R>) {
      if (header.results > header.bytes) {
        throw_corrupt(what, fmt::format("{} results in {} bytes", header.results, header.bytes));
      }
    }
    for (std::uint64_t i = 0; i < header.results; ++i) push(read_value<R>(r, end, what));
    if (r != end) {
      throw_corrupt(what, fmt::format("{} bytes after its {} results", end - r, header.results));
    }
  }
};

// f(ItemBlock) for each block of `data`, checking each against the end.
template <class F>
void for_each_item_block(std::string_view data, F&& f) {
  const char* p = data.data();
  const char* const end = data.data() + data.size();
  while (p < end) {
    if (static_cast<std::size_t>(end - p) < item_block_header_bytes)
      throw JobError("corrupt item results: a cut header");
    ItemBlock b{};
    std::memcpy(&b.header, p, sizeof(b.header));
    p += item_block_header_bytes;
    if (b.header.bytes > static_cast<std::size_t>(end - p))
      throw JobError("corrupt item results: a block past the end");
    b.results = p;
    p += b.header.bytes;
    f(b);
  }
}

}  // namespace mapreduce::detail
