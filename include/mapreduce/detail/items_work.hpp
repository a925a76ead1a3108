#pragma once
// The work of Pool::map and imap: f(item) for each item of a task, the results written as
// one block per task (item_format.hpp); and the parent's gather of them in input order.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/item_format.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/task_source.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce::detail {

// Pool::map and imap: each task's results as one block of item_format.hpp.
template <class Items, class F, class R>
class ItemsMapWork final : public PhaseWork {
 public:
  // `each_task`: publish every task's results at once, tagged with the task (imap takes
  // them as they come); else gather a worker's tasks up to `flush_bytes`.
  ItemsMapWork(const ItemSource<Items>& source, F& f, std::size_t flush_bytes, bool each_task = false)
      : source_(source), f_(f), flush_bytes_(flush_bytes), each_task_(each_task) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    ItemBlockWriter<R> block(buffer_, task);
    source_.for_each_input(task, [&](const auto& item) { block.add(f_(item)); });
    link.add_records(block.end());
    if (each_task_) {
      flush(link, task);
    } else if (buffer_.size() >= flush_bytes_) {
      flush(link);
    }
  }
  void finish(WorkerLink& link) override { flush(link); }
  [[nodiscard]] std::string describe_task(std::size_t task) const override { return source_.describe(task); }

 private:
  void flush(WorkerLink& link, std::uint64_t tag = 0) {
    if (buffer_.empty()) return;
    if (each_task_ && link.publish_small(std::string_view(buffer_.data(), buffer_.size()), tag)) {
      buffer_.clear();
      return;
    }
    link.publish(link.write_segment(buffer_.size(), {std::string_view(buffer_.data(), buffer_.size())}), tag);
    if (each_task_) {
      buffer_.clear();  // the next task's results are about as large: keep the capacity
    } else {
      buffer_.release();
    }
  }

  const ItemSource<Items>& source_;
  F& f_;
  std::size_t flush_bytes_;
  bool each_task_;
  ByteBuffer buffer_;  // keeps room after its end for a Codec that writes past its size()
};

template <class R>
std::vector<R> gather_items(std::vector<Published>& outputs, std::size_t tasks, std::size_t items) {
  std::vector<SharedSegment> segments;
  std::vector<ItemBlock> blocks(tasks, ItemBlock{{}, nullptr});
  for (const Published& o : outputs) {
    segments.push_back(SharedSegment::open(o.fd.get()));
    for_each_item_block(std::string_view(segments.back().data(), segments.back().size()), [&](const ItemBlock& b) {
      if (b.header.task >= tasks)
        throw JobError(fmt::format("corrupt item results: task {} of {}", b.header.task, tasks));
      blocks[b.header.task] = b;
    });
  }
  std::vector<R> result;
  result.reserve(items);
  for (std::size_t t = 0; t < tasks; ++t) {
    if (blocks[t].results == nullptr) throw JobError(fmt::format("map: the results of task {} are missing", t));
    // Each item gives one result: a block that claims more is bad bytes (and would grow the
    // result without bound with a Codec that reads no bytes).
    if (blocks[t].header.results > items - result.size()) {
      throw JobError(fmt::format("corrupt item results: task {} claims {} results, beyond the {} items", t,
                                 blocks[t].header.results, items));
    }
    ItemBlock block = blocks[t];
    PaddedBytes padded;  // a user's read() may go past the block: give it room that is ours
    if constexpr (!trusted_codec<R>) block.results = padded.pad({block.results, block.header.bytes}, 0).data();
    block.template decode<R>([&result](R r) { result.push_back(std::move(r)); });
  }
  if (result.size() != items) {
    throw JobError(fmt::format("corrupt item results: {} results for {} items", result.size(), items));
  }
  return result;
}

}  // namespace mapreduce::detail
