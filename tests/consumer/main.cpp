// The consumer project's program: one small job; exits 0 when its result is right.
#include <mapreduce/mapreduce.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

int main() {
  const std::vector<std::string> lines{"to be or not", "to be", "that is the question"};
  mapreduce::Pool pool({.workers = 2});
  auto counts = pool.map_reduce<std::string, int>(
      lines,
      [](const std::string& line, auto& emit) {
        mapreduce::for_each_word(line, [&](std::string_view w) { emit(w, 1); });
      },
      std::plus<>{});
  const auto top = mapreduce::top_n(std::move(counts), 2);
  const bool ok = top.size() == 2 && top[0] == std::pair<std::string, int>{"be", 2} &&
                  top[1] == std::pair<std::string, int>{"to", 2};
  std::printf("%s (mapreduce %s)\n", ok ? "ok" : "wrong result", mapreduce::version_string);
  return ok ? 0 : 1;
}
