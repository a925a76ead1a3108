#pragma once
// A job's result left in shared memory, partitioned, for the next job to map.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/pairs_format.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/detail/reduce_work.hpp"
#include "mapreduce/detail/task_source.hpp"
#include "mapreduce/key.hpp"

namespace mapreduce {

/// The reduced partitions of a job, kept in shared memory instead of gathered: what
/// Pool::map_reduce_dataset returns. Pass it as the input of the next map_reduce of the
/// same Pool, whose workers read it partition by partition in place (the parent never
/// copies it); collect() brings it into the parent when you want it there.
///
///     auto counts = pool.map_reduce_dataset<std::string, std::uint64_t>(files, count, std::plus<>{});
///     auto by_length = pool.map_reduce<std::size_t, std::uint64_t>(
///         counts, [](std::string_view word, std::uint64_t n, auto& emit) { emit(word.size(), n); },
///         std::plus<>{});
///
/// It owns shared memory (descriptors of unnamed segments): move it, destroy it to free it.
template <Key K, Encodable V>
class Dataset {
 public:
  Dataset() = default;
  explicit Dataset(std::vector<detail::Published> parts) : parts_(std::move(parts)) {
    std::sort(parts_.begin(), parts_.end(), [](const auto& a, const auto& b) { return a.tag < b.tag; });
    std::vector<int> fds;
    for (const auto& p : parts_) fds.push_back(p.fd.get());
    shared_ = detail::SharedDescriptors(std::move(fds));
  }

  /// Pairs held, over all partitions.
  [[nodiscard]] std::uint64_t size() const {
    std::uint64_t n = 0;
    for (const auto& p : parts_) {
      const auto seg = detail::SharedSegment::open(p.fd.get());
      n += detail::PairsView<K, V>(seg.data(), seg.size()).count();
    }
    return n;
  }
  /// Partitions that hold pairs.
  [[nodiscard]] std::size_t partitions() const noexcept { return parts_.size(); }
  /// Shared-memory bytes held.
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    std::uint64_t n = 0;
    for (const auto& p : parts_) n += p.bytes;
    return n;
  }
  /// The pairs, in the order Pool::map_reduce would have returned them.
  [[nodiscard]] std::vector<std::pair<K, V>> collect() const {
    std::vector<detail::SharedSegment> segs;
    std::vector<std::string_view> data;
    for (const auto& p : parts_) {
      segs.push_back(detail::SharedSegment::open(p.fd.get()));
      data.emplace_back(segs.back().data(), segs.back().size());
    }
    return detail::decode_pairs<K, V>(data);
  }

  /// The partition number (0 to the job's partitions - 1) of the i-th partition held.
  [[nodiscard]] std::uint32_t partition_id(std::size_t i) const { return static_cast<std::uint32_t>(parts_.at(i).tag); }

  /// Calls `f(key_view, value)` for every pair of the i-th partition held, read in place.
  /// Works in the parent, and in the workers of a later job of the same process (they
  /// inherit the segments): `pool.map` over 0..partitions()-1 then processes whole
  /// partitions in parallel, as a streaming reducer does.
  template <class F>
  void for_each_in_partition(std::size_t i, F&& f) const {
    read_segment(parts_.at(i).fd.get(), f);
  }

  /// Calls `f(key_view, value)` for every pair, in partition order, and frees each
  /// partition's memory once it is read: for writing out a result larger than memory, once,
  /// so what is written reuses that memory. The Dataset is empty from the call on (a job
  /// started inside `f` over it sees no pairs), and stays so when `f` throws.
  ///
  ///     auto lines = pool.sorted().map_reduce_dataset<std::string, std::uint64_t>(files, by_line, std::plus<>{});
  ///     lines.consume([&](std::string_view line, std::uint64_t n) { out.write(line, n); });
  template <class F>
  void consume(F&& f) {
    std::vector<detail::Published> parts = std::move(parts_);
    parts_.clear();
    shared_ = detail::SharedDescriptors();
    for (detail::Published& part : parts) {
      read_segment(part.fd.get(), f);
      part.fd = detail::UniqueFd();  // its pages go back before the next partition is read
    }
  }

  /// For the engine: the segments, one per non-empty partition, in partition order.
  [[nodiscard]] const std::vector<detail::Published>& segments() const noexcept { return parts_; }

 private:
  // f(key_view, value) for every pair of a partition's segment, mapped for the call only.
  template <class F>
  static void read_segment(int fd, F& f) {
    const auto seg = detail::SharedSegment::open(fd);
    std::string_view bytes(seg.data(), seg.size());
    detail::PaddedBytes padded;  // a user's read() may go past the last pair: give it room that is ours
    if constexpr (!detail::PairsView<K, V>::trusted) bytes = padded.pad(bytes, 0);
    detail::PairsView<K, V>(bytes.data(), bytes.size()).for_each(f);
  }

  // Declared after parts_: unregistered before the descriptors close.
  std::vector<detail::Published> parts_;
  // A mapper may read this Dataset in a later job's workers: they keep its descriptors.
  detail::SharedDescriptors shared_;
};

namespace detail {

// Map tasks over a Dataset: one task per partition, its records read in place.
template <class K, class V>
class DatasetSource {
 public:
  explicit DatasetSource(const Dataset<K, V>& data) noexcept : data_(data) {}
  [[nodiscard]] std::size_t tasks() const noexcept { return data_.segments().size(); }
  [[nodiscard]] std::size_t global_task(std::size_t t) const noexcept { return t; }
  [[nodiscard]] std::string describe(std::size_t t) const {
    return fmt::format("dataset partition {}", data_.segments()[t].tag);
  }
  void diagnose_crash(std::size_t) const noexcept {}
  [[nodiscard]] std::uint64_t task_bytes(std::size_t) const noexcept { return 0; }
  template <class F>
  void for_each_input(std::size_t t, F&& f) const {
    // The descriptor was inherited at fork (every live Dataset's are kept: SharedDescriptors);
    // the segment is mapped for this task only.
    data_.for_each_in_partition(t, [&f](typename KeyTraits<K>::view key, V value) {
      f(KeyValue<typename KeyTraits<K>::view, V>{key, std::move(value)});
    });
  }
  // Sample i of `samples` (sample_work.hpp): the partitions t with t % samples == i, every
  // partition read with the same stride, so each gives pairs in proportion to its size and
  // all of them give about 2048 x samples.
  template <class F>
  void for_each_sampled_input(std::size_t i, std::size_t samples, std::uint64_t, F&& f) const {
    const std::uint64_t stride = std::max<std::uint64_t>(1, data_.size() / (2048 * std::uint64_t(samples)));
    for (std::size_t t = i; t < tasks(); t += samples) {
      std::uint64_t at = 0;
      data_.for_each_in_partition(t, [&](typename KeyTraits<K>::view key, V value) {
        if (at++ % stride == 0) f(KeyValue<typename KeyTraits<K>::view, V>{key, std::move(value)});
      });
    }
  }

 private:
  const Dataset<K, V>& data_;
};

}  // namespace detail
}  // namespace mapreduce
