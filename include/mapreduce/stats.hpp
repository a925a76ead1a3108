#pragma once
#include <cstddef>
#include <cstdint>

namespace mapreduce {

/// What the last job of a Pool did, phase by phase (Pool::last_stats()).
struct JobStats {
  double split_seconds = 0;   // checking inputs and cutting them into tasks (parent)
  double sample_seconds = 0;  // a sorted job's sample of its keys, before the map (Pool::sorted)
  double map_seconds = 0;     // map workers: map, combine, write runs
  double reduce_seconds = 0;  // reduce workers: read runs in place, reduce, write results
  double gather_seconds = 0;  // parent: read the reduced partitions into the result
  double total_seconds = 0;
  std::uint64_t input_bytes = 0;
  std::uint64_t map_tasks = 0;
  std::uint64_t records = 0;        // pairs emitted by the mappers (items, for Pool::map)
  std::uint64_t distinct_keys = 0;  // pairs in the result
  std::uint64_t shared_bytes = 0;   // shared memory written: runs plus reduced partitions
  std::uint64_t spilled_bytes = 0;  // written to spill files once the budget was spent
  unsigned retries = 0;             // task attempts that failed and ran again
  unsigned memory_failures = 0;     // task attempts that ended past PoolOptions::worker_memory
  std::uint64_t sent_bytes = 0;     // MpiPool: runs this rank sent to other ranks
  unsigned map_workers = 0;         // processes that ran the map phase, replacements included
  unsigned reduce_workers = 0;      // processes that ran the reduce phase: map workers that went on, and any forked
  unsigned forked_workers = 0;      // processes the job forked: each map worker goes on to reduce, so
                                    // with no failure, as many as ran the map (a sorted job's sample adds its own)
};

}  // namespace mapreduce
