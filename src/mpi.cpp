// The MPI side of MpiPool: moving runs between ranks and results to rank 0.
#include "mapreduce/mpi.hpp"

#include <algorithm>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "mapreduce/detail/mpi_format.hpp"
#include "mapreduce/detail/run_format.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce::detail {
namespace {

// MPI counts are int: larger buffers travel in pieces of at most this many bytes.
constexpr std::size_t piece_bytes = std::size_t(1) << 30;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(fmt::format("MPI: {} failed (error {})", what, rc));
}

// Posts the sends or receives of one buffer in pieces; tags number the pieces.
void post(std::vector<MPI_Request>& reqs, char* data, std::size_t size, int peer, MPI_Comm comm, bool send) {
  int tag = 0;
  for (std::size_t off = 0; off < size; off += piece_bytes, ++tag) {
    const int n = static_cast<int>(std::min(piece_bytes, size - off));
    MPI_Request r;
    if (send) {
      check(MPI_Isend(data + off, n, MPI_BYTE, peer, tag, comm, &r), "MPI_Isend");
    } else {
      check(MPI_Irecv(data + off, n, MPI_BYTE, peer, tag, comm, &r), "MPI_Irecv");
    }
    reqs.push_back(r);
  }
}

}  // namespace

std::vector<std::vector<char>> mpi_exchange(MPI_Comm comm, std::vector<std::vector<char>> send) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  std::vector<std::uint64_t> send_sizes(static_cast<std::size_t>(ranks)), recv_sizes(static_cast<std::size_t>(ranks));
  for (int d = 0; d < ranks; ++d) send_sizes[static_cast<std::size_t>(d)] = send[static_cast<std::size_t>(d)].size();
  check(MPI_Alltoall(send_sizes.data(), 1, MPI_UINT64_T, recv_sizes.data(), 1, MPI_UINT64_T, comm), "MPI_Alltoall");
  std::vector<std::vector<char>> recv(static_cast<std::size_t>(ranks));
  std::vector<MPI_Request> reqs;
  for (int s = 0; s < ranks; ++s) {
    auto& buf = recv[static_cast<std::size_t>(s)];
    if (s == rank) continue;  // moved in after the sends are done
    buf.resize(recv_sizes[static_cast<std::size_t>(s)]);
    post(reqs, buf.data(), buf.size(), s, comm, false);
  }
  for (int d = 0; d < ranks; ++d) {
    if (d == rank) continue;
    auto& buf = send[static_cast<std::size_t>(d)];
    post(reqs, buf.data(), buf.size(), d, comm, true);
  }
  check(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  recv[static_cast<std::size_t>(rank)] = std::move(send[static_cast<std::size_t>(rank)]);
  return recv;
}

std::vector<std::vector<char>> mpi_gather(MPI_Comm comm, const std::vector<char>& mine) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const std::uint64_t size = mine.size();
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(ranks));
  check(MPI_Gather(&size, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, 0, comm), "MPI_Gather");
  std::vector<std::vector<char>> all;
  std::vector<MPI_Request> reqs;
  if (rank == 0) {
    all.resize(static_cast<std::size_t>(ranks));
    all[0] = mine;
    for (int s = 1; s < ranks; ++s) {
      all[static_cast<std::size_t>(s)].resize(sizes[static_cast<std::size_t>(s)]);
      post(reqs, all[static_cast<std::size_t>(s)].data(), sizes[static_cast<std::size_t>(s)], s, comm, false);
    }
  } else {
    post(reqs, const_cast<char*>(mine.data()), mine.size(), 0, comm, true);
  }
  check(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  return all;
}

void mpi_check_same(MPI_Comm comm, const JobShape& shape) {
  std::uint64_t mine[2] = {shape.tasks, shape.bytes};
  std::uint64_t lo[2], hi[2];
  check(MPI_Allreduce(mine, lo, 2, MPI_UINT64_T, MPI_MIN, comm), "MPI_Allreduce");
  check(MPI_Allreduce(mine, hi, 2, MPI_UINT64_T, MPI_MAX, comm), "MPI_Allreduce");
  if (lo[0] != hi[0] || lo[1] != hi[1]) {
    throw InputError(
        fmt::format("the ranks see different inputs ({} to {} bytes, {} to {} tasks): with "
                    "MpiInputs::shared every rank must see the same files",
                    lo[1], hi[1], lo[0], hi[0]));
  }
}

unsigned mpi_max(MPI_Comm comm, unsigned value) {
  unsigned out = value;
  check(MPI_Allreduce(&value, &out, 1, MPI_UNSIGNED, MPI_MAX, comm), "MPI_Allreduce");
  return out;
}

std::size_t mpi_tasks_before(MPI_Comm comm, std::size_t tasks) {
  std::uint64_t mine = tasks, before = 0;
  check(MPI_Exscan(&mine, &before, 1, MPI_UINT64_T, MPI_SUM, comm), "MPI_Exscan");
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank == 0 ? 0 : static_cast<std::size_t>(before);  // Exscan leaves rank 0's undefined
}

void mpi_abort(MPI_Comm comm, const std::exception_ptr& failure) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s; ending the MPI job\n", rank, e.what());
  } catch (...) {
    std::fprintf(stderr, "rank %d: unknown exception; ending the MPI job\n", rank);
  }
  MPI_Abort(comm, 1);
  std::abort();  // MPI_Abort does not return
}

void mpi_agree(MPI_Comm comm, const std::exception_ptr& failure) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  const int mine = failure ? rank : ranks;
  int first = ranks;
  check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (first == ranks) return;
  // The first failing rank tells the others what happened, and whether it was the input.
  std::string text;
  int input_error = 0;
  if (rank == first) {
    try {
      std::rethrow_exception(failure);
    } catch (const InputError& e) {
      text = e.what();
      input_error = 1;
    } catch (const std::exception& e) {
      text = e.what();
    } catch (...) {
      text = "unknown exception";
    }
  }
  int len = static_cast<int>(text.size());
  check(MPI_Bcast(&len, 1, MPI_INT, first, comm), "MPI_Bcast");
  check(MPI_Bcast(&input_error, 1, MPI_INT, first, comm), "MPI_Bcast");
  text.resize(static_cast<std::size_t>(len));
  check(MPI_Bcast(text.data(), len, MPI_CHAR, first, comm), "MPI_Bcast");
  if (rank == first) std::rethrow_exception(failure);
  if (input_error != 0) throw InputError(text);
  throw JobError(fmt::format("rank {}: {}", first, text));
}

// Per destination rank, a block per run set holding the runs of the partitions it owns.
std::vector<std::vector<char>> runs_for_exchange(const std::vector<Published>& runs, int ranks) {
  std::vector<std::vector<char>> out(static_cast<std::size_t>(ranks));
  const auto stride = static_cast<std::uint32_t>(ranks);
  for (const Published& r : runs) {
    const SharedSegment seg = SharedSegment::open(r.fd.get());
    const RunSetView view(seg.data(), seg.size());
    for (int d = 0; d < ranks; ++d) {
      auto& buf = out[static_cast<std::size_t>(d)];
      std::uint32_t n = 0;
      for (auto p = static_cast<std::uint32_t>(d); p < view.partitions(); p += stride) n += view.count(p) > 0 ? 1 : 0;
      if (n == 0) continue;
      append_run_set_block(buf, n, view.tagged());
      for (auto p = static_cast<std::uint32_t>(d); p < view.partitions(); p += stride) {
        if (view.count(p) != 0) append_run(buf, TravellingRun{p, view.count(p), view.run(p)});
      }
    }
  }
  return out;
}

std::vector<Published> runs_from_exchange(const std::vector<std::vector<char>>& received, std::uint32_t partitions) {
  std::vector<Published> out;
  for (const auto& buf : received) {
    for_each_run_set_block(std::string_view(buf.data(), buf.size()), partitions,
                           [&](bool tagged, const std::vector<TravellingRun>& runs) {
                             // One run set block: rebuild it as a run set segment with every partition, the
                             // partitions this rank does not own left empty.
                             std::vector<std::uint64_t> bytes(partitions, 0), counts(partitions, 0);
                             std::vector<const char*> data(partitions, nullptr);
                             for (const TravellingRun& r : runs) {
                               counts[r.partition] = r.records;
                               bytes[r.partition] = r.data.size();
                               data[r.partition] = r.data.data();
                             }
                             const std::vector<std::uint64_t> offsets = run_set_offsets(bytes);
                             SharedSegment seg = SharedSegment::create(offsets.back());
                             write_run_set_header(seg.data(), tagged, offsets, counts);
                             for (std::uint32_t q = 0; q < partitions; ++q) {
                               if (bytes[q] != 0) std::memcpy(seg.data() + offsets[q], data[q], bytes[q]);
                             }
                             out.push_back(Published{UniqueFd(::dup(seg.fd())), 0, offsets.back(), false});
                             if (!out.back().fd) throw Error("MPI exchange: cannot keep a received run set");
                           });
  }
  return out;
}

std::vector<char> reduced_for_gather(const std::vector<Published>& outputs) {
  std::vector<char> out;
  for (const Published& o : outputs) {
    const SharedSegment seg = SharedSegment::open(o.fd.get());
    append_reduced_block(out, static_cast<std::uint32_t>(o.tag), std::string_view(seg.data(), seg.size()));
  }
  return out;
}

std::vector<std::string_view> reduced_in_order(const std::vector<std::vector<char>>& gathered) {
  std::vector<std::pair<std::uint32_t, std::string_view>> parts;
  for (const auto& buf : gathered) {
    for_each_reduced_block(
        std::string_view(buf.data(), buf.size()),
        [&](std::uint32_t partition, std::string_view data) { parts.emplace_back(partition, data); });
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string_view> out;
  out.reserve(parts.size());
  for (const auto& [part, data] : parts) out.push_back(data);
  return out;
}

}  // namespace mapreduce::detail
