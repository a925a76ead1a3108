#pragma once
#include "mapreduce/detail/map_buffer.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce {

/// What a mapper emits its pairs through. `emit(key, value)` hashes the key once and,
/// when the job's reducer is a combine operation, folds the value into the worker's
/// private table at once (the combiner); otherwise it appends the pair to the run of
/// its partition. String keys are taken as std::string_view and copied by the engine,
/// so the mapper may emit views into a temporary buffer.
///
///     [](std::string_view line, mapreduce::Emitter<std::string, std::uint64_t>& emit) {
///       emit(line.substr(0, line.find(' ')), 1);
///     }
template <Key K, Encodable V>
class Emitter {
 public:
  using key_type = K;
  using value_type = V;
  using key_view = typename KeyTraits<K>::view;

  explicit Emitter(detail::MapBuffer<K, V>& buffer) noexcept : buffer_(&buffer) {}

  [[gnu::always_inline]] inline void emit(key_view key, const V& value) { buffer_->add(key, value); }
  [[gnu::always_inline]] inline void operator()(key_view key, const V& value) { buffer_->add(key, value); }

 private:
  detail::MapBuffer<K, V>* buffer_;
};

}  // namespace mapreduce
