// Train several variants, keep the best: a ridge least-squares fit of y = a x + b for each
// of 40 regularization strengths, in worker processes, then a fan-in that keeps the lowest
// validation error. `--check` also runs the plain loop and fails if the picks differ.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

struct Point {
  double x, y;
};

struct Fit {
  double lambda, a, b, error;
  std::uint32_t id;  // breaks ties between equal errors, so the pick is deterministic
};

std::vector<Point> make_points(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 12.0);
  std::uniform_real_distribution<double> xs(-10.0, 10.0);
  std::vector<Point> pts(n);
  for (auto& p : pts) {
    p.x = xs(rng);
    p.y = 0.5 * p.x - 1.0 + noise(rng);
  }
  return pts;
}

// Ridge regression on the slope, closed form; error is the mean squared error on `test`.
Fit train(double lambda, std::uint32_t id, const std::vector<Point>& train_set, const std::vector<Point>& test) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const auto n = static_cast<double>(train_set.size());
  for (const auto& p : train_set) {
    sx += p.x;
    sy += p.y;
    sxx += p.x * p.x;
    sxy += p.x * p.y;
  }
  const double mx = sx / n, my = sy / n;
  const double a = (sxy - n * mx * my) / (sxx - n * mx * mx + lambda);
  const double b = my - a * mx;
  double err = 0;
  for (const auto& p : test) err += (a * p.x + b - p.y) * (a * p.x + b - p.y);
  return {lambda, a, b, err / static_cast<double>(test.size()), id};
}

int run(int argc, char** argv) {
  bool check = false;
  unsigned workers = 0;
  cli::App app("train_best",
               "Fits y = a x + b with 40 regularization strengths in worker processes and prints\n"
               "the one with the lowest validation error.");
  app.add_workers(workers);
  app.add_flag("--check", check, "also run the plain loop and exit 1 if it picks another");
  app.parse_command_line(argc, argv);
  const auto train_set = make_points(5, 6);  // few, noisy points: shrinking the slope can pay
  const auto test_set = make_points(2, 2000);
  std::vector<double> lambdas;
  for (int i = 0; i < 40; ++i) lambdas.push_back(std::pow(10.0, -2.0 + 0.15 * i));

  mapreduce::Pool pool({.workers = workers});
  // Fan out over the parameters, fan in to the lowest error: one job, an ordinary reducer.
  std::vector<std::uint32_t> variants(lambdas.size());
  for (std::uint32_t i = 0; i < variants.size(); ++i) variants[i] = i;
  auto best = pool.named("train").map_reduce<int, Fit>(
      variants, [&](std::uint32_t i, auto& emit) { emit(0, train(lambdas[i], i, train_set, test_set)); },
      mapreduce::min_by([](const Fit& f) { return std::pair(f.error, f.id); }));
  const Fit& pick = best.at(0).second;
  std::printf("best lambda %.4g: y = %.4f x %+.4f, validation MSE %.4f\n", pick.lambda, pick.a, pick.b, pick.error);

  if (check) {
    Fit expected = train(lambdas[0], 0, train_set, test_set);
    for (std::uint32_t i = 1; i < lambdas.size(); ++i) {
      const Fit f = train(lambdas[i], i, train_set, test_set);
      if (std::pair(f.error, f.id) < std::pair(expected.error, expected.id)) expected = f;
    }
    if (expected.id != pick.id || expected.error != pick.error) {
      std::fprintf(stderr, "train_best: picked variant %u, the loop picks %u\n", pick.id, expected.id);
      return 1;
    }
    std::puts("check: the same pick as the plain loop");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("train_best", [&] { return run(argc, argv); });
}
