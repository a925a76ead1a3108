#pragma once
// Results as they come: the lazy range that Pool::imap and Pool::imap_unordered return.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mapreduce/codec.hpp"
#include "mapreduce/detail/codec_guard.hpp"
#include "mapreduce/detail/item_format.hpp"
#include "mapreduce/detail/items_work.hpp"
#include "mapreduce/detail/phase.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce {

/// How Pool::imap and Pool::imap_unordered cut and bound their work.
struct ImapOptions {
  /// Items per task: each task is one round trip to a worker, so raise it when `f` is
  /// cheap (as Python's `chunksize`). 0: 1.
  std::size_t chunk = 0;
  /// At most this many results are computed ahead of the reader: held in shared memory, or
  /// being computed. The workers wait once that many are pending, so a slow consumer holds
  /// a bounded amount of memory however many items there are. Rounded up to whole tasks.
  /// 0: 4 tasks per worker.
  std::size_t max_pending = 0;
  /// What the phase is called in progress reports, in the prefix of the workers' output
  /// lines and in errors: "reduce" for a stream of reducers, say. Empty: "map".
  std::string phase{};
};

namespace detail {

// The part of a result stream that does not depend on the items and the function.
template <class R>
class StreamCore {
 public:
  StreamCore(const PhaseConfig& config, const std::function<void(const TaskContext&)>& before_task,
             const std::function<void(const Progress&)>& progress, bool ordered)
      : phase_name_(config.name), config_(config), before_task_(before_task), progress_(progress), ordered_(ordered) {
    // The stream may outlive the Pool that made it: it keeps its own copies of the hooks.
    config_.name = phase_name_.c_str();
    config_.before_task = &before_task_;
    config_.progress = &progress_;
    config_.ordered = ordered;
  }
  virtual ~StreamCore() = default;
  StreamCore(const StreamCore&) = delete;
  StreamCore& operator=(const StreamCore&) = delete;

  // The next result, or nothing once all are read.
  std::optional<R> next() {
    if (failed_) throw Error("imap: the job failed; its results cannot be read on");
    try {
      for (;;) {
        if (!ready_.empty()) {
          std::optional<R> r(std::move(ready_.front()));
          ready_.pop_front();
          return r;
        }
        if (taken_ == tasks_) {
          finish();
          return std::nullopt;
        }
        for (Published& p : run_->take_published()) {
          const std::uint64_t task = p.tag;
          pending_.emplace(task, Pending{std::move(p), {}});
        }
        for (SmallResult& r : run_->take_small()) pending_.emplace(r.tag, Pending{{}, std::move(r.data)});
        if (!pending_.empty()) {
          // In order: the next task's results only; unordered: whichever came first.
          auto it = ordered_ ? pending_.find(next_task_) : pending_.begin();
          if (it != pending_.end()) {
            take(it->second);
            pending_.erase(it);
            continue;
          }
        }
        if (!run_->step()) throw Error("imap: the workers ended before every result arrived");
      }
    } catch (...) {
      failed_ = true;
      run_.reset();  // kill and reap the workers now, not when the stream goes
      throw;
    }
  }

 protected:
  void start(std::size_t tasks, std::size_t window, PhaseWork& work) {
    tasks_ = tasks;
    config_.window = window;
    run_ = std::make_unique<PhaseRun>(tasks, work, config_);
  }
  void stop() noexcept { run_.reset(); }

 private:
  // A task's results: a segment, or the bytes of a small result's message.
  struct Pending {
    Published segment;
    std::string small;
  };
  void take(Pending& p) {
    SharedSegment segment;
    std::string_view data = p.small;
    if (p.segment.fd) {
      segment = SharedSegment::open(p.segment.fd.get());
      data = std::string_view(segment.data(), segment.size());
    }
    std::uint64_t task = 0;
    PaddedBytes padded;  // a user's read() may go past the last block: give it room that is ours
    if constexpr (!trusted_codec<R>) data = padded.pad(data, 0);
    for_each_item_block(data, [&](const ItemBlock& b) {
      task = b.header.task;
      b.template decode<R>([this](R r) { ready_.push_back(std::move(r)); });
    });
    run_->release(task, p.segment.fd && !p.segment.spilled ? p.segment.bytes : 0);
    ++taken_;
    if (ordered_) ++next_task_;
  }
  void finish() {
    if (!run_) return;
    while (run_->step()) {  // the workers were told to finish: reap them
    }
    run_.reset();
  }

  std::string phase_name_;  // before config_, which points into it
  PhaseConfig config_;
  std::function<void(const TaskContext&)> before_task_;
  std::function<void(const Progress&)> progress_;
  bool ordered_;
  std::unique_ptr<PhaseRun> run_;
  std::size_t tasks_ = 0, taken_ = 0;
  std::uint64_t next_task_ = 0;               // ordered: the task whose results come next
  std::map<std::uint64_t, Pending> pending_;  // published, not yet read, by task
  std::deque<R> ready_;                       // one task's results, decoded
  bool failed_ = false;
};

// The items (held by reference when the caller passed an lvalue, else moved in), the
// function, and the work the workers run.
template <class R, class Items, class F>
class StreamState final : public StreamCore<R> {
  using Plain = std::remove_cvref_t<Items>;
  using Held = std::conditional_t<std::is_lvalue_reference_v<Items>, const Plain&, Plain>;

 public:
  StreamState(F f, Items&& items, std::size_t chunk, std::size_t window, const PhaseConfig& config,
              const std::function<void(const TaskContext&)>& before_task,
              const std::function<void(const Progress&)>& progress, bool ordered)
      : StreamCore<R>(config, before_task, progress, ordered), items_(std::forward<Items>(items)), f_(std::move(f)),
        source_(items_, chunk), work_(source_, f_, 0, true) {
    this->start(source_.tasks(), window, work_);
  }
  ~StreamState() override { this->stop(); }  // the workers go before what they run

 private:
  Held items_;
  F f_;
  ItemSource<Plain> source_;
  ItemsMapWork<Plain, F, R> work_;
};

}  // namespace detail

/// The results of Pool::imap (in input order) or Pool::imap_unordered (as they finish): a
/// single-pass input range that yields each result while the job runs. The workers are
/// forked when it is made and run at most ImapOptions::max_pending results ahead of the
/// reader; destroying it before the end kills and reaps them. An exception from the job
/// (JobError, Interrupted...) comes out of the increment that was waiting for it. Its
/// iterators point into it: move the stream before begin(), never after. Pool::last_stats()
/// does not describe a stream.
///
///     for (const Summary& s : pool.imap(summarize, paths)) write(s);  // never all held
template <class R>
class ResultStream {
 public:
  explicit ResultStream(std::unique_ptr<detail::StreamCore<R>> core) : core_(std::move(core)) {}

  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using iterator_concept = std::input_iterator_tag;
    iterator() = default;
    explicit iterator(ResultStream* s) noexcept : s_(s) {}
    R& operator*() const { return *s_->current_; }
    R* operator->() const { return &*s_->current_; }
    iterator& operator++() {
      s_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& i, std::default_sentinel_t) noexcept { return i.at_end(); }

   private:
    [[nodiscard]] bool at_end() const noexcept { return !s_->current_.has_value(); }
    ResultStream* s_ = nullptr;
  };

  /// Starts reading: waits for the first result. Call it once.
  iterator begin() {
    if (!started_) {
      started_ = true;
      advance();
    }
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

  /// The next result, or std::nullopt once all are read (an alternative to iterating).
  std::optional<R> next() {
    started_ = true;
    return core_->next();
  }

 private:
  void advance() { current_ = core_->next(); }

  std::unique_ptr<detail::StreamCore<R>> core_;
  std::optional<R> current_;
  bool started_ = false;
};

}  // namespace mapreduce
