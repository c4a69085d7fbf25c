// The machine's own timing noise, to read before asking the profiler for tight intervals: times a fixed,
// register-only loop (no memory traffic, no allocation, nothing convergy does) in windows of about
// --window-ms for --seconds, then treats every run of --reps consecutive windows as one profiled layer and
// reports how often that layer's distribution-free 95% median interval would be within --target of its
// median. On a quiet machine with a fixed clock this is close to 100%; if it is low, no profiler can meet
// that target with that many repetitions there (docs/measurement.md, run E).
//
// Usage: bench/noise_floor_bench [--seconds 60] [--window-ms 25] [--reps 20] [--target 0.02]
#include "measure/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double flag(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) {
      char* end = nullptr;
      double v = std::strtod(argv[i + 1], &end);
      if (end == argv[i + 1] || *end != '\0' || !(v > 0)) {
        fmt::print(stderr, "noise_floor_bench: {} \"{}\", expected a positive number\n", name, argv[i + 1]);
        std::exit(2);
      }
      return v;
    }
  return fallback;
}

// A dependent chain of multiply-adds: its time depends only on the core's clock and on how much of the core
// this thread gets.
double spin(long iterations, double x) {
  const double a = 1.0000001;
  for (long i = 0; i < iterations; ++i) x = x * a + 1e-9;
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  using clock = std::chrono::steady_clock;
  const double seconds = flag(argc, argv, "--seconds", 60);
  const double window_ms = flag(argc, argv, "--window-ms", 25);
  const int reps = static_cast<int>(flag(argc, argv, "--reps", 20));
  const double target = flag(argc, argv, "--target", 0.02);

  // Calibrate the iteration count of one window.
  volatile double sink = 1.0;
  long iters = 1 << 16;
  for (;;) {
    auto t0 = clock::now();
    sink = spin(iters, sink);
    double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    if (ms >= window_ms / 4) {
      iters = static_cast<long>(static_cast<double>(iters) * window_ms / ms);
      break;
    }
    iters *= 2;
  }
  std::vector<double> windows;
  const auto end = clock::now() + std::chrono::duration<double>(seconds);
  while (clock::now() < end) {
    auto t0 = clock::now();
    sink = spin(iters, sink);
    windows.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
  convergy::Summary all = *convergy::summarize(windows);  // at least one window ran
  auto pct = [&](double q) {
    std::vector<double> s = windows;
    std::sort(s.begin(), s.end());
    return s[static_cast<size_t>(q * static_cast<double>(s.size() - 1))];
  };
  fmt::print("windows: {} of {:.2f} ms median ({} iterations each), over {:.0f} s\n", windows.size(), all.median,
             iters, seconds);
  fmt::print("spread: p5 {:+.1f}%, p25 {:+.1f}%, p75 {:+.1f}%, p95 {:+.1f}%, max {:+.1f}% of the median\n",
             100 * (pct(0.05) / all.median - 1), 100 * (pct(0.25) / all.median - 1),
             100 * (pct(0.75) / all.median - 1), 100 * (pct(0.95) / all.median - 1),
             100 * (all.max / all.median - 1));
  int groups = 0, within = 0;
  std::vector<double> half;
  for (size_t g = 0; g + static_cast<size_t>(reps) <= windows.size(); g += static_cast<size_t>(reps)) {
    std::vector<double> part(windows.begin() + static_cast<long>(g), windows.begin() + static_cast<long>(g) + reps);
    convergy::Summary s = *convergy::summarize(part);
    ++groups;
    within += s.median_ci95_rel() <= target ? 1 : 0;
    half.push_back(s.median_ci95_rel());
  }
  if (groups == 0) {
    fmt::print("too few windows for one group of {} repetitions: raise --seconds\n", reps);
    return 1;
  }
  std::sort(half.begin(), half.end());
  fmt::print("groups of {} consecutive windows: {} of {} ({:.1f}%) have a 95% median interval within {:.1f}% "
             "(half-width: median {:.2f}%, worst {:.2f}%)\n",
             reps, within, groups, 100.0 * within / groups, 100 * target, 100 * half[half.size() / 2],
             100 * half.back());
  return sink == 0.0 ? 1 : 0;  // keeps the loop's result alive
}
