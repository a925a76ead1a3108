#pragma once
// The map phase's work: each task of a source through the mapper, into the worker's
// MapBuffer, written out as a run set (run_format.hpp) when it holds its share of the budget.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/task_source.hpp"
#include "mapreduce/emitter.hpp"
#include "mapreduce/input.hpp"

namespace mapreduce::detail {

// Calls the mapper with one input of a task, in the form it takes.
template <class K, class V, class Mapper, class Input>
void call_mapper(Mapper& mapper, Input& input, Emitter<K, V>& emit) {
  if constexpr (std::is_same_v<std::decay_t<Input>, FileChunk>) {
    // A chunk of a file: mapper(chunk, source, emit) when it wants to know where from.
    if constexpr (std::is_invocable_v<Mapper&, std::string_view, const ChunkSource&, Emitter<K, V>&>) {
      mapper(input.text, input.source, emit);
    } else {
      mapper(input.text, emit);
    }
  } else if constexpr (is_key_value<std::decay_t<Input>>) {
    // A Dataset record: mapper(key, value, emit), or mapper(pair, emit).
    if constexpr (std::is_invocable_v<Mapper&, decltype(input.key), decltype(input.value), Emitter<K, V>&>) {
      mapper(input.key, input.value, emit);
    } else {
      mapper(std::pair{input.key, input.value}, emit);
    }
  } else {
    mapper(input, emit);
  }
}

template <class K, class V, TaskSource Source, class Mapper>
class MapWork final : public PhaseWork {
 public:
  MapWork(Source& source, Mapper& mapper, MapBuffer<K, V>& buffer, std::size_t flush_bytes)
      : source_(source), mapper_(mapper), buffer_(buffer), flush_bytes_(flush_bytes) {}

  void run_task(std::size_t task, WorkerLink& link) override {
    buffer_.set_task(source_.global_task(task));
    Emitter<K, V> emit(buffer_);
    source_.for_each_input(task, [&](auto&& input) { call_mapper(mapper_, input, emit); });
    buffer_.drain();
    link.add_records(buffer_.take_records());
    if (buffer_.memory_bytes() >= flush_bytes_) buffer_.flush(link);
  }
  void finish(WorkerLink& link) override {
    buffer_.flush(link);
    buffer_.release();
  }
  [[nodiscard]] std::string describe_task(std::size_t task) const override { return source_.describe(task); }
  void diagnose_crash(std::size_t task) const override { source_.diagnose_crash(task); }
  [[nodiscard]] std::uint64_t task_bytes(std::size_t task) const override { return source_.task_bytes(task); }
  void descriptors(std::vector<int>& keep) const override {
    if constexpr (requires { source_.descriptors(keep); }) source_.descriptors(keep);
  }

 private:
  Source& source_;
  Mapper& mapper_;
  MapBuffer<K, V>& buffer_;
  std::size_t flush_bytes_;
};

}  // namespace mapreduce::detail
