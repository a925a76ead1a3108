#pragma once
// The two kinds of reducer.
#include <concepts>
#include <span>
#include <type_traits>
#include <utility>

#include "mapreduce/key.hpp"

namespace mapreduce {

/// A combine operation: `V op(const V&, const V&)`, associative and commutative, such as
/// std::plus<>{}. The engine applies it inside each mapper as values are emitted (the
/// combiner), then across workers in the reducers; the result holds one folded value per key.
template <class R, class V>
concept CombineOperation = std::is_invocable_r_v<V, R&, const V&, const V&>;

/// A reducer that receives a key and every value emitted for it, in task order and, within
/// a task, in emit order: `Out r(key_view key, std::span<const V> values)`.
template <class R, class K, class V>
concept GroupReducer = std::is_invocable_v<R&, typename KeyTraits<K>::view, std::span<const V>>;

/// Marks `f` as a reducer of a key and all of its values. A generic lambda
/// (`[](auto key, auto values) {...}`) needs it, because the engine could not otherwise
/// tell it from a combine operation:
///
///     pool.map_reduce<std::string, std::uint32_t>(input, mapper,
///         mapreduce::per_key([](auto key, auto files) { return files.size(); }));
template <class F>
struct PerKey {
  F f;
  template <class... A>
  decltype(auto) operator()(A&&... a) {
    return f(std::forward<A>(a)...);
  }
};
template <class F>
[[nodiscard]] PerKey<std::decay_t<F>> per_key(F&& f) {
  return {std::forward<F>(f)};
}

/// A combine operation that keeps the value with the smallest `score(value)`: a fan-in
/// that picks one result, such as the best of several models. Give values distinct scores
/// (add an index to break ties), or the pick among equals depends on the order of combining.
///
///     pool.map_reduce<int, Fit>(configs, [](const Config& c, auto& emit) { emit(0, train(c)); },
///                               mapreduce::min_by([](const Fit& f) { return std::pair(f.error, f.id); }));
template <class Score>
[[nodiscard]] auto min_by(Score score) {
  // The trailing return type keeps the lambda SFINAE-friendly: the engine asks whether it
  // is callable with other arguments (a key and a span) to tell reducers apart.
  return [score](const auto& a, const auto& b) -> std::decay_t<decltype(score(b) < score(a) ? b : a)> {
    return score(b) < score(a) ? b : a;
  };
}
/// The same, keeping the largest score.
template <class Score>
[[nodiscard]] auto max_by(Score score) {
  return [score](const auto& a, const auto& b) -> std::decay_t<decltype(score(a) < score(b) ? b : a)> {
    return score(a) < score(b) ? b : a;
  };
}

namespace detail {
template <class R>
struct is_per_key : std::false_type {};
template <class F>
struct is_per_key<PerKey<F>> : std::true_type {};

// Whether R is a reducer of either kind; the per-key test is made only when R is not a
// combine operation (it would instantiate a generic combine lambda with a key and a span).
template <class R, class K, class V>
constexpr bool is_reducer();

template <class R, class K, class V>
constexpr bool is_combine() {
  if constexpr (is_per_key<std::decay_t<R>>::value) {
    return false;
  } else {
    return CombineOperation<std::decay_t<R>, V>;
  }
}
template <class R, class K, class V>
constexpr bool is_reducer() {
  if constexpr (is_combine<R, K, V>()) {
    return true;
  } else {
    return GroupReducer<std::decay_t<R>, K, V>;
  }
}
}  // namespace detail

namespace detail {
template <class K, class V, class R, bool Combine = is_combine<R, K, V>()>
struct ReduceOutput {
  using type = V;
};
template <class K, class V, class R>
struct ReduceOutput<K, V, R, false> {
  using type = std::decay_t<std::invoke_result_t<R&, typename KeyTraits<K>::view, std::span<const V>>>;
};
}  // namespace detail

/// The value type of a map_reduce result: V for a combine operation, else what the
/// per-key reducer returns.
template <class K, class V, class Reducer>
using reduce_output_t = typename detail::ReduceOutput<K, V, std::decay_t<Reducer>>::type;

}  // namespace mapreduce
