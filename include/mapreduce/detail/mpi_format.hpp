#pragma once
// The blocks MpiPool sends between ranks, writer and reader side by side. Pure bytes: no
// MPI here, so the layouts are tested without mpirun.
//
// Runs, per destination rank, for each run set of the sender:
//   [partitions u32][tagged u32] then, per partition the destination owns and that has records,
//   [partition u32][records u64][bytes u64][bytes of run]
// Reduced partitions, gathered on rank 0:
//   [partition u32][bytes u64][bytes of the reduced partition]
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "mapreduce/error.hpp"

namespace mapreduce::detail {

namespace mpi_block {
template <class T>
void append(std::vector<char>& out, const T& v) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

// Reads fixed-size fields and byte strings from a received buffer, never past its end.
class Reader {
 public:
  Reader(std::string_view data, const char* what) : p_(data.data()), end_(data.data() + data.size()), what_(what) {}
  [[nodiscard]] bool done() const noexcept { return p_ == end_; }
  template <class T>
  T take() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string_view bytes(std::uint64_t n) {
    need(n);
    const std::string_view s(p_, static_cast<std::size_t>(n));
    p_ += n;
    return s;
  }

 private:
  void need(std::uint64_t n) const {
    if (n > static_cast<std::uint64_t>(end_ - p_))
      throw Error(fmt::format("MPI exchange: a {} block is cut short", what_));
  }
  const char* p_;
  const char* end_;
  const char* what_;
};
}  // namespace mpi_block

// One partition's run, as it travels.
struct TravellingRun {
  std::uint32_t partition;
  std::uint64_t records;
  std::string_view data;
};

// Writes the head of one run set's block: call before its runs.
inline void append_run_set_block(std::vector<char>& out, std::uint32_t runs, bool tagged) {
  mpi_block::append(out, runs);
  mpi_block::append(out, std::uint32_t(tagged ? 1 : 0));
}
inline void append_run(std::vector<char>& out, const TravellingRun& run) {
  mpi_block::append(out, run.partition);
  mpi_block::append(out, run.records);
  mpi_block::append(out, std::uint64_t(run.data.size()));
  out.insert(out.end(), run.data.begin(), run.data.end());
}

// f(tagged, runs) for each run set block of a received buffer; runs of partitions at or past
// `partitions` are refused.
template <class F>
void for_each_run_set_block(std::string_view received, std::uint32_t partitions, F&& f) {
  mpi_block::Reader in(received, "run");
  std::vector<TravellingRun> runs;
  while (!in.done()) {
    const auto n = in.take<std::uint32_t>();
    const bool tagged = in.take<std::uint32_t>() != 0;
    runs.clear();
    for (std::uint32_t i = 0; i < n; ++i) {
      TravellingRun r{};
      r.partition = in.take<std::uint32_t>();
      if (r.partition >= partitions) throw Error("MPI exchange: a run of an unknown partition arrived");
      r.records = in.take<std::uint64_t>();
      r.data = in.bytes(in.take<std::uint64_t>());
      runs.push_back(r);
    }
    f(tagged, runs);
  }
}

inline void append_reduced_block(std::vector<char>& out, std::uint32_t partition, std::string_view data) {
  mpi_block::append(out, partition);
  mpi_block::append(out, std::uint64_t(data.size()));
  out.insert(out.end(), data.begin(), data.end());
}

// f(partition, data) for each reduced partition of a gathered buffer.
template <class F>
void for_each_reduced_block(std::string_view gathered, F&& f) {
  mpi_block::Reader in(gathered, "reduced partition");
  while (!in.done()) {
    const auto partition = in.take<std::uint32_t>();
    f(partition, in.bytes(in.take<std::uint64_t>()));
  }
}

}  // namespace mapreduce::detail
