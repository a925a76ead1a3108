#pragma once
// Map steps in a row, fused into one mapper: the data passes from step to step as plain
// calls, never written out in between.
#include <string>
#include <type_traits>
#include <utility>

#include "mapreduce/detail/exception_text.hpp"
#include "mapreduce/error.hpp"

namespace mapreduce {

/// A map step failed; the message names the step: "step 'parse': std::invalid_argument: ...".
class StepError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class Step, class Rest>
struct Fused {
  Step step;
  Rest rest;
  template <class In, class Emit>
  void operator()(In&& in, Emit& emit) {
    step(std::forward<In>(in), [&](auto&& x) { rest(std::forward<decltype(x)>(x), emit); });
  }
};
}  // namespace detail

/// Fuses steps into one mapper. Each step but the last is called as `step(input, next)` and
/// passes on what it makes with `next(x)`, as often as it likes (a map step once, a filter
/// step once or never, a parse step once per record); the last step is called as
/// `step(x, emit)` with the job's emitter. Equivalent to writing the nested calls by hand.
///
///     auto mapper = mapreduce::fuse(
///         [](std::string_view chunk, auto&& next) { mapreduce::for_each_record(chunk, next); },
///         mapreduce::map_step(parse_order),
///         mapreduce::filter_step([](const Order& o) { return o.valid; }),
///         [](const Order& o, auto& emit) { emit(o.type, o.hours); });
template <class Last>
[[nodiscard]] auto fuse(Last last) {
  return last;
}
template <class First, class Second, class... Rest>
[[nodiscard]] auto fuse(First first, Second second, Rest... rest) {
  auto tail = fuse(std::move(second), std::move(rest)...);
  return detail::Fused<First, decltype(tail)>{std::move(first), std::move(tail)};
}

/// A step that passes on f(x) for each x.
template <class F>
[[nodiscard]] auto map_step(F f) {
  return [f](auto&& x, auto&& next) mutable { next(f(std::forward<decltype(x)>(x))); };
}

/// A step that passes on the x for which pred(x) holds.
template <class Pred>
[[nodiscard]] auto filter_step(Pred pred) {
  return [pred](auto&& x, auto&& next) mutable {
    if (pred(x)) next(std::forward<decltype(x)>(x));
  };
}

/// Names a step: an exception it throws becomes a StepError naming it; an exception from a
/// later step passes through it unchanged.
template <class Step>
[[nodiscard]] auto named_step(std::string name, Step step) {
  return [name = std::move(name), step = std::move(step)](auto&& x, auto&& next) mutable {
    bool downstream = false;  // an exception from a later step passes through as it is
    try {
      step(std::forward<decltype(x)>(x), [&](auto&& y) {
        downstream = true;
        next(std::forward<decltype(y)>(y));
        downstream = false;
      });
    } catch (...) {
      if (downstream) throw;
      throw StepError("step '" + name + "': " + detail::describe_current_exception());
    }
  };
}

}  // namespace mapreduce
