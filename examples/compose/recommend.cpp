// Cohort x product recommendations: every cohort scored against every product as one
// cartesian job (Pool::map_product), results addressed by the pair; then each cohort's best
// product. `--check` also runs the nested loops and fails on any difference.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <mapreduce/mapreduce.hpp>

#include "../common/cli.hpp"

namespace {

constexpr int features = 16;

struct Profile {
  std::string name;
  std::array<float, features> taste;
};

std::vector<Profile> make(const char* prefix, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Profile> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)].name = std::string(prefix) + std::to_string(i);
    for (auto& t : out[static_cast<std::size_t>(i)].taste) t = u(rng);
  }
  return out;
}

// The affinity of a cohort for a product: a dot product of their feature vectors.
float score(const Profile& cohort, const Profile& product) {
  float s = 0;
  for (int k = 0; k < features; ++k)
    s += cohort.taste[static_cast<std::size_t>(k)] * product.taste[static_cast<std::size_t>(k)];
  return s;
}

int run(int argc, char** argv) {
  bool check = false;
  unsigned workers = 0;
  cli::App app("recommend",
               "Scores 60 cohorts against 400 products, one cartesian job, and prints the first\n"
               "cohorts' best products.");
  app.add_workers(workers);
  app.add_flag("--check", check, "also run the nested loops and exit 1 on any difference");
  app.parse_command_line(argc, argv);
  const auto cohorts = make("cohort-", 60, 7);
  const auto products = make("product-", 400, 8);
  mapreduce::Pool pool({.workers = workers});
  const auto grid = pool.named("score pairs").map_product(score, cohorts, products);
  int code = 0;
  for (std::size_t c = 0; c < grid.rows(); ++c) {
    std::size_t best = 0;
    for (std::size_t p = 1; p < grid.cols(); ++p) {
      if (grid.at(c, p) > grid.at(c, best)) best = p;
    }
    if (c < 5) std::printf("%s\t%s\t%.3f\n", cohorts[c].name.c_str(), products[best].name.c_str(), grid.at(c, best));
    if (check) {
      for (std::size_t p = 0; p < products.size(); ++p) {
        if (grid.at(c, p) != score(cohorts[c], products[p])) code = 1;
      }
    }
  }
  if (check) std::puts(code == 0 ? "check: every pair equals the nested loops" : "check: pairs differ from the loops");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("recommend", [&] { return run(argc, argv); });
}
